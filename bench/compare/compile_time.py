#!/usr/bin/python3
"""Compile cost of edgestack against dlib 19.24 (Debian libdlib-dev), and of each header.

    /usr/bin/python3 bench/compare/compile_time.py [--repeats 3] [--cxx g++] [--json OUT]
    /usr/bin/python3 bench/compare/compile_time.py --headers [--top 10]

The first form compiles two translation units that do the same thing, the reference trainer
examples/fashion_mnist_train/main.cpp and bench/compare/dlib_trainer.cpp (same network,
recipes and CLI11 command line), with the same flags, alternately (ours, dlib, ours, dlib,
...), once with -march=native and once without, and prints the median wall time and peak
compiler memory of each and their ratios. Only compilation (-c) is timed, not linking.

The second form compiles, for every public header, a file that includes only that header
(-c, same flags) and prints the most expensive ones by time with their peak memory: what a
user pays for one #include.

--smoke compiles each side once, at -O0 and -march=native only: it shows that both still
compile, its figures mean nothing. --json writes the medians and ratios to a file.

Time is the compiler's CPU time (user + system, of the driver and cc1plus); wall time is
shown beside it. On a quiet machine the two agree; on a shared one CPU time is the one that
does not count other people's work. Peak memory is ru_maxrss of the compiler driver and its
children (cc1plus). All three read with wait4; both sides alternate, so see the same load.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The flags CMake gives the example in a Release build (edgestack_build_flags, the core's
# definitions, the gzip and tbb components the trainer links).
COMMON = ["-std=gnu++20", "-O3", "-DNDEBUG", "-Wall", "-Wextra", "-Wno-unused-parameter"]
OURS = ["-DXTENSOR_USE_XSIMD", "-DEDGESTACK_HAS_GZIP=1", "-DEDGESTACK_HAS_TBB=1",
        '-DEDGESTACK_FASHION_MNIST_DIR="/usr/share/datasets/fashion-mnist"',
        "-I" + os.path.join(ROOT, "examples"), "-I" + os.path.join(ROOT, "include"),
        "-isystem", "/usr/include/eigen3"]
TRAINER = os.path.join(ROOT, "examples", "fashion_mnist_train", "main.cpp")
DLIB_TRAINER = os.path.join(ROOT, "bench", "compare", "dlib_trainer.cpp")


def compile_once(cmd, must_pass=True):
    """Runs one compile; returns (CPU seconds, wall seconds, peak RSS in MiB). A failure
    exits, or returns None when must_pass is false."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        if not must_pass:
            return None
        sys.stdout.write(out)
        sys.exit("compile failed: " + " ".join(cmd))
    return usage.ru_utime + usage.ru_stime, seconds, usage.ru_maxrss / 1024.0


def cpu_model():
    """The model name and the vector extensions that -march=native turns on."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")
           if f in flags]
    return f"{name} ({' '.join(isa) or 'no AVX2'})"


def compare(args, tmp):
    if not os.path.exists("/usr/include/dlib/dnn.h"):
        sys.exit("dlib headers not found: apt-get install libdlib-dev (dlib 19.24)")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {args.cxx} "
          f"{subprocess.run([args.cxx, '-dumpfullversion'], capture_output=True, text=True).stdout.strip()}")
    common = [f if f != "-O3" else "-O0" for f in COMMON] if args.smoke else COMMON
    print(f"flags: {' '.join(common)} [-march=native]; {args.repeats} alternating runs each\n")
    obj = os.path.join(tmp, "t.o")
    results = {"cpu": cpu_model(), "compiler": args.cxx, "flags": " ".join(common),
               "repeats": args.repeats, "smoke": args.smoke, "runs": {}}
    for arch in (["-march=native"],) if args.smoke else (["-march=native"], []):
        flags = common + arch
        ours = [args.cxx] + flags + OURS + ["-c", TRAINER, "-o", obj]
        dlib = [args.cxx] + flags + ["-c", DLIB_TRAINER, "-o", obj]
        samples = {"edgestack": [], "dlib": []}
        for r in range(args.repeats):
            for name, cmd in (("edgestack", ours), ("dlib", dlib)):
                cpu, wall, mem = compile_once(cmd)
                samples[name].append((cpu, wall, mem))
                print(f"  run {r + 1} {name:9} {cpu:6.1f} s CPU {wall:6.1f} s wall {mem:6.0f} MiB",
                      flush=True)
        med = {k: [statistics.median(x[i] for x in v) for i in range(3)]
               for k, v in samples.items()}
        label = " ".join(arch) or "no -march"
        print(f"{label}:")
        for k in ("edgestack", "dlib"):
            cpus = [x[0] for x in samples[k]]
            print(f"  {k:9} median {med[k][0]:6.1f} s CPU (min {min(cpus):.1f}, max {max(cpus):.1f})"
                  f"  {med[k][1]:6.1f} s wall  peak {med[k][2]:6.0f} MiB")
        ratio = [med["edgestack"][i] / med["dlib"][i] for i in range(3)]
        print(f"  ratio edgestack/dlib: CPU time {ratio[0]:.2f}x, wall {ratio[1]:.2f}x, "
              f"peak memory {ratio[2]:.2f}x\n", flush=True)
        results["runs"][label] = {
            k: {"cpu_s": med[k][0], "wall_s": med[k][1], "peak_mib": med[k][2],
                "samples": [dict(zip(("cpu_s", "wall_s", "peak_mib"), x)) for x in samples[k]]}
            for k in samples}
        results["runs"][label]["ratio"] = dict(zip(("cpu", "wall", "peak_memory"), ratio))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def headers(args, tmp):
    include = os.path.join(ROOT, "include")
    found = []
    for d, _, files in os.walk(os.path.join(include, "edgestack")):
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), include)
            if f.endswith(".hpp") and "/detail/" not in rel:
                found.append(rel)
    src, obj = os.path.join(tmp, "h.cpp"), os.path.join(tmp, "h.o")
    # Every optional component's definitions, so each header compiles its full form.
    defs = ["-DEDGESTACK_HAS_" + c.upper() + "=1"
            for c in ("tbb", "gzip", "xnnpack", "crypto", "onnx", "sqlite", "serve", "mpi")]
    defs += ["-DONNX_ML=1", "-DONNX_NAMESPACE=onnx", "-I/usr/lib/x86_64-linux-gnu/openmpi/include"]
    flags = COMMON + ["-march=native"] + OURS + defs
    rows, failed = [], []
    print(f"CPU: {cpu_model()}; {args.cxx} {' '.join(COMMON)} -march=native -c, one public "
          f"header per file, {len(found)} headers\n", flush=True)
    for h in sorted(found):
        with open(src, "w") as f:
            f.write(f"#include \"{h}\"\n")
        cmd = [args.cxx] + flags + ["-c", src, "-o", obj]
        best = compile_once(cmd, must_pass=False)
        if best is None:
            failed.append(h)
            continue
        for _ in range(args.repeats - 1):
            run = compile_once(cmd)
            best = run if run[0] < best[0] else best
        rows.append((best[0], best[2], h))
    rows.sort(reverse=True)
    print(f"{'CPU s':>8} {'peak MiB':>9}  header")
    for s, m, h in rows[:args.top]:
        print(f"{s:8.2f} {m:9.0f}  {h}")
    if failed:
        print("\ndo not compile alone (a dependency is missing here):", " ".join(failed))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=None,
                   help="runs per translation unit (default 3; 1 with --headers, the fastest kept)")
    p.add_argument("--cxx", default="g++")
    p.add_argument("--headers", action="store_true", help="rank the public headers instead")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--smoke", action="store_true", help="once each, -O0: that both compile")
    p.add_argument("--json", help="write the medians and ratios to this file")
    args = p.parse_args()
    if args.repeats is None:
        args.repeats = 1 if args.headers or args.smoke else 3
    with tempfile.TemporaryDirectory() as tmp:
        if args.headers:
            headers(args, tmp)
        else:
            compare(args, tmp)


if __name__ == "__main__":
    main()
