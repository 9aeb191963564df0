#!/usr/bin/env python3
"""Runs every benchmark program and every comparison with a peer, end to end, and writes
one results file (JSON) with the machine it ran on.

    bench/run.py --build BUILD_DIR --ort ORT_NODE_DIR --out results.json [--smoke]
                 [--only NAME ...]

BUILD_DIR is a build with -DEDGESTACK_BUILD_BENCH=ON -DEDGESTACK_BUILD_EXAMPLES=ON. Every
bench_* program under BUILD_DIR/bench runs (Google Benchmark, JSON output kept); the MPI one
runs at 1 and 2 ranks under mpirun. Every comparison script in bench/compare and
bench/serve runs with its peer (ONNX Runtime, XNNPACK, PyTorch, wrk). A program or
script that this file does not know is an error, so nothing new is skipped unseen.

--smoke runs each one as briefly as it allows (a test uses it so that the benchmarks
cannot silently break); its figures mean nothing. Exit status 1 if anything failed; the
results file lists what failed and why.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Programs that are not Google Benchmark programs, and what runs them instead.
DRIVEN_BY = {"bench_engine_peers": "engine", "bench_engine_onnx": "isa"}
# Scripts in bench/compare that are entry points (the rest are helpers they call).
HELPERS = {"train_torch.py", "engine_ort.js", "dlib_trainer.cpp"}


def cpu():
    info = {"machine": platform.machine(), "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and "model" not in info:
                info["model"] = value.strip()
            elif key == "cpu family" and "family" not in info:
                info["family"] = value.strip()
            elif key == "model" and "model_number" not in info:
                info["model_number"] = value.strip()
            elif key == "flags" and "isa" not in info:
                flags = set(value.split())
                info["isa"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw",
                                           "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
                                           "asimd", "sve") if f in flags]
    except OSError:
        pass
    return info


def commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


class Runner:
    def __init__(self, args):
        self.a = args
        self.results = {"schema": 1, "smoke": args.smoke,
                        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        "commit": commit(), "cpu": cpu(), "programs": {}, "comparisons": {},
                        "seconds": {}, "failures": []}
        self.tmp = tempfile.mkdtemp(prefix="edgestack-bench-")
        if args.smoke:  # programs with fixed iteration counts read it
            os.environ["EDGESTACK_BENCH_SMOKE"] = "1"

    def wanted(self, name):
        return not self.a.only or name in self.a.only

    def fail(self, name, why):
        print(f"!! {name}: {why}", flush=True)
        self.results["failures"].append({"name": name, "error": why})

    def call(self, name, cmd, env=None):
        """Run cmd, its output shown as it comes; its output when it exits 0, else None."""
        print(f"\n== {name}: {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        lines = []
        try:
            with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, errors="replace") as p:
                for line in p.stdout:
                    sys.stdout.write(line)
                    lines.append(line)
            status = p.returncode
        except OSError as e:
            self.fail(name, str(e))
            return None
        finally:
            self.results["seconds"][name] = round(time.monotonic() - t0, 2)
            sys.stdout.flush()
        if status != 0:
            tail = "".join(lines).strip().splitlines()[-3:]
            self.fail(name, f"exit status {status}: " + " | ".join(tail))
            return None
        return "".join(lines)

    def gbench_args(self, out):
        args = [f"--benchmark_out={out}", "--benchmark_out_format=json"]
        if self.a.smoke:
            args += ["--benchmark_min_time=0.001", "--benchmark_repetitions=1"]
        return args

    def load_gbench(self, name, path):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            self.fail(name, f"no Google Benchmark results ({e})")
            return None
        if not data.get("benchmarks"):
            self.fail(name, "ran no benchmark")
            return None
        return {"context": {k: data["context"].get(k) for k in
                            ("num_cpus", "mhz_per_cpu", "library_build_type", "caches")},
                "benchmarks": data["benchmarks"]}

    def programs(self):
        found = []
        for dirpath, _, files in os.walk(os.path.join(self.a.build, "bench")):
            for f in files:
                p = os.path.join(dirpath, f)
                if f.startswith("bench_") and os.access(p, os.X_OK) and "CMakeFiles" not in p:
                    found.append(p)
        if not found:
            self.fail("programs", f"no bench_* program under {self.a.build}/bench - configure with "
                                  "-DEDGESTACK_BUILD_BENCH=ON and build")
        for p in sorted(found, key=os.path.basename):
            name = os.path.basename(p)
            if name in DRIVEN_BY or not self.wanted(name):
                continue
            out = os.path.join(self.tmp, name + ".json")
            if name == "bench_dist_scaling":
                self.mpi_program(name, p)
                continue
            if self.call(name, [p] + self.gbench_args(out)) is not None:
                r = self.load_gbench(name, out)
                if r:
                    self.results["programs"][name] = r

    def mpi_program(self, name, path):
        mpirun = shutil.which("mpirun")
        if not mpirun:
            self.fail(name, "mpirun not found (apt-get install openmpi-bin)")
            return
        extra = ["--oversubscribe"]
        if os.geteuid() == 0:
            extra.append("--allow-run-as-root")
        runs = {}
        for ranks in (1, 2):
            out = os.path.join(self.tmp, f"{name}.{ranks}")
            # Every rank writes its own file; rank 0's is kept.
            cmd = [mpirun, "-np", str(ranks)] + extra + [
                "sh", "-c", f'exec "$0" "$@" --benchmark_out={out}.$OMPI_COMM_WORLD_RANK.json '
                            "--benchmark_out_format=json", path]
            if self.a.smoke:
                cmd += ["--benchmark_min_time=0.001", "--benchmark_repetitions=1"]
            env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1")
            if self.call(f"{name} ({ranks} ranks)", cmd, env=env) is not None:
                r = self.load_gbench(name, f"{out}.0.json")
                if r:
                    runs[str(ranks)] = r
        if runs:
            self.results["programs"][name] = {"ranks": runs}

    def comparison(self, name, cmd, env=None):
        if not self.wanted(name):
            return
        out = os.path.join(self.tmp, name + ".json")
        if self.call(name, cmd + ["--json", out], env=env) is None:
            return
        try:
            with open(out) as f:
                self.results["comparisons"][name] = json.load(f)
        except (OSError, ValueError) as e:
            self.fail(name, f"wrote no results ({e})")

    def serve(self):
        if not self.wanted("serve"):
            return
        script = os.path.join(ROOT, "bench", "serve", "run.sh")
        args = ["1", "3000", "4"] if self.a.smoke else ["10", "200000", "8"]
        env = dict(os.environ, PORT=str(18000 + os.getpid() % 1000))
        if self.a.smoke:
            env.update(LOOP_TRAIN="1000", LOOP_EPOCHS="1")
        text = self.call("serve", ["sh", script, self.a.build] + args, env=env)
        if text is None:
            return
        rows = [dict(kv.split("=", 1) for kv in line.split()[1:])
                for line in text.splitlines() if line.startswith("RESULT ")]
        switches = [int(l.split(":")[1]) for l in text.splitlines() if l.startswith("version switches:")]
        if len(rows) != 2 or not switches:
            self.fail("serve", "expected two RESULT lines and a version switch count")
            return
        num = lambda r: {k: float(v) for k, v in r.items()}
        self.results["comparisons"]["serve"] = {"steady": num(rows[0]), "hot_reload": num(rows[1]),
                                                "version_switches": switches[0],
                                                "duration_s": float(args[0])}

    def comparisons(self):
        known = {"engine_compare.py", "isa_compare.py", "train_compare.py", "compile_time.py", "diabetes_baseline.py"}
        for f in sorted(os.listdir(os.path.join(HERE, "compare"))):
            if f not in known and f not in HELPERS and not f.startswith("."):
                self.fail(f, "a comparison bench/run.py does not know: add it there")
        py = sys.executable or "python3"
        engine = [py, os.path.join(HERE, "compare", "engine_compare.py"), "--build", self.a.build,
                  "--ort", self.a.ort]
        if self.a.smoke:
            engine += ["--rounds", "1", "--runs", "20"]
        self.comparison("engine", engine)
        # The five PyTorch exports at every instruction-set level, fp32 and int8, against ORT.
        isa = [py, os.path.join(HERE, "compare", "isa_compare.py"), "--build", self.a.build, "--ort", self.a.ort]
        if self.a.smoke:
            isa += ["--rounds", "1", "--runs", "20", "--nets", "ds_cnn,autoencoder"]
        self.comparison("isa", isa)
        train = ["/usr/bin/python3", os.path.join(HERE, "compare", "train_compare.py"),
                 "--build", self.a.build]
        train += ["--epochs", "1", "--limit", "1000"] if self.a.smoke else ["--epochs", "3", "--repeats", "2"]
        self.comparison("train", train, env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
        compile_time = os.path.join(HERE, "compare", "compile_time.py")
        if os.path.exists(compile_time):
            cmd = [py, compile_time]
            if self.a.smoke:
                cmd.append("--smoke")
            self.comparison("compile_time", cmd)
        # Accuracy baselines of examples/diabetes_regressor (scikit-learn, PyTorch).
        diabetes = ["/usr/bin/python3", os.path.join(HERE, "compare", "diabetes_baseline.py"),
                    "--seeds", "1" if self.a.smoke else "5"]
        self.comparison("diabetes", diabetes)
        self.serve()

    def run(self):
        t0 = time.monotonic()
        self.programs()
        self.comparisons()
        self.results["seconds"]["total"] = round(time.monotonic() - t0, 2)
        os.makedirs(os.path.dirname(os.path.abspath(self.a.out)), exist_ok=True)
        with open(self.a.out, "w") as f:
            json.dump(self.results, f, indent=1)
        shutil.rmtree(self.tmp, ignore_errors=True)
        n_prog, n_cmp = len(self.results["programs"]), len(self.results["comparisons"])
        print(f"\n{n_prog} benchmark programs and {n_cmp} comparisons in "
              f"{self.results['seconds']['total']:.0f} s; results in {self.a.out}")
        for f in self.results["failures"]:
            print(f"FAILED {f['name']}: {f['error']}")
        return 1 if self.results["failures"] else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder with benchmarks and examples")
    ap.add_argument("--ort", required=True, help="folder holding node_modules/onnxruntime-node")
    ap.add_argument("--out", required=True, help="the results file to write (JSON)")
    ap.add_argument("--smoke", action="store_true", help="each one as briefly as it allows")
    ap.add_argument("--only", nargs="*", help="only these programs / comparisons")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.ort = os.path.abspath(a.ort)
    sys.exit(Runner(a).run())


if __name__ == "__main__":
    main()
