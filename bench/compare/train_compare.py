#!/usr/bin/python3
"""Training speed, accuracy and peak memory of edgestack against PyTorch on the reference
Fashion-MNIST CNN (same network, batch 64, Adam 1e-3, same data, 2 threads each).

Runs the two alternately (ours, PyTorch, ours, PyTorch, ...) so both see the same machine
load, and prints samples/s of each, the ratio, both test accuracies and both peak RSS
(ru_maxrss of each child process, read with wait4).

    /usr/bin/python3 bench/compare/train_compare.py --build <build dir> [--epochs 3]
        [--repeats 1] [--limit N] [--openblas DIR] [--json FILE]

PyTorch gets OpenBLAS (Debian libopenblas0-openmp) through LD_LIBRARY_PATH for its process
only: Debian's torch links the generic libblas.so.3, the slow netlib reference unless
another BLAS is selected. The BLAS it really mapped is read from /proc/self/maps and shown.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def run(cmd, env=None):
    """Run cmd, echo its output, return (RESULT fields, peak RSS in MiB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    lines = []
    for line in proc.stdout:
        sys.stdout.write("    " + line)
        lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed with exit code {proc.returncode}")
    result = next((l for l in lines if l.startswith("RESULT ")), None)
    if result is None:
        sys.exit(f"{cmd[0]} printed no RESULT line")
    fields = dict(kv.split("=", 1) for kv in result.split()[1:])
    return fields, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build folder holding fashion_mnist_train")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs of each side")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N samples only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--openblas", default=DEFAULT_OPENBLAS,
                    help="folder with OpenBLAS's libblas.so.3 for PyTorch")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()

    ours_bin = os.path.join(args.build, "examples", "fashion_mnist_train", "fashion_mnist_train")
    if not os.path.exists(ours_bin):
        sys.exit(f"{ours_bin}: not found - build the fashion_mnist_train target first")
    common = ["--epochs", str(args.epochs), "--threads", str(args.threads), "--data", args.data]
    if args.limit:
        common += ["--limit", str(args.limit)]
    ours_cmd = [ours_bin, "--quiet", "--history", ""] + common
    torch_cmd = ["/usr/bin/python3", os.path.join(HERE, "train_torch.py")] + common

    torch_env = dict(os.environ)
    if os.path.exists(os.path.join(args.openblas, "libblas.so.3")):
        torch_env["LD_LIBRARY_PATH"] = args.openblas + ":" + torch_env.get("LD_LIBRARY_PATH", "")
    else:
        print(f"warning: no OpenBLAS in {args.openblas}; PyTorch will use the default BLAS")

    ours, theirs = [], []
    for r in range(args.repeats):
        print(f"run {r + 1}/{args.repeats}: edgestack")
        ours.append(run(ours_cmd))
        print(f"run {r + 1}/{args.repeats}: PyTorch")
        theirs.append(run(torch_cmd, torch_env))

    def median(runs, key):
        return statistics.median(float(f[key]) for f, _ in runs)

    o_sps, t_sps = median(ours, "samples_per_s"), median(theirs, "samples_per_s")
    o_rss = statistics.median(m for _, m in ours)
    t_rss = statistics.median(m for _, m in theirs)
    ratios = [float(a[0]["samples_per_s"]) / float(b[0]["samples_per_s"])
              for a, b in zip(ours, theirs)]
    print()
    print(f"{'':24}{'edgestack':>14}{'PyTorch':>14}")
    print(f"{'samples/s (median)':24}{o_sps:14.0f}{t_sps:14.0f}")
    print(f"{'test accuracy':24}{ours[-1][0]['test_accuracy']:>14}{theirs[-1][0]['test_accuracy']:>14}")
    print(f"{'peak RSS (MiB)':24}{o_rss:14.0f}{t_rss:14.0f}")
    print(f"speed ratio edgestack/PyTorch: {statistics.median(ratios):.2f}x "
          f"(per run: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.5x)")
    print(f"memory ratio edgestack/PyTorch: {o_rss / t_rss:.2f} (target <= 0.5)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"epochs": args.epochs, "threads": args.threads, "limit": args.limit,
                       "repeats": args.repeats, "blas": theirs[-1][0].get("blas", "?"),
                       "edgestack": {"samples_per_s": o_sps, "peak_rss_mib": o_rss,
                                     "test_accuracy": float(ours[-1][0]["test_accuracy"])},
                       "pytorch": {"samples_per_s": t_sps, "peak_rss_mib": t_rss,
                                   "test_accuracy": float(theirs[-1][0]["test_accuracy"])},
                       "speed_ratios": ratios}, f, indent=1)
    print(f"PyTorch BLAS: {theirs[-1][0].get('blas', '?')}; "
          f"epochs {args.epochs}, batch 64, threads {args.threads}"
          + (f", first {args.limit} training samples" if args.limit else ""))


if __name__ == "__main__":
    main()
