#!/usr/bin/python3
"""Draws the charts of docs/benchmarks.md (SVG, with Debian's python3-matplotlib) from a
results file written by bench/run.py: one chart per comparison with a peer and one per
benchmark program. Each chart names the CPU, the date and the commit of its run.

    python3 bench/charts.py RESULTS.json [--out docs/img/bench]

The SVG files are reproducible: the same results give the same bytes.
"""
import argparse
import json
import os
import re
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "edgestack", "svg.fonttype": "none", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})
OURS, PEER, OTHER = "#1f77b4", "#ff7f0e", "#7f7f7f"


def caption(r):
    cpu = r["cpu"].get("model", "unknown CPU")
    isa = "/".join(i for i in r["cpu"].get("isa", []) if i in ("avx2", "avx512f", "avx512_vnni", "asimd"))
    cores = r["cpu"].get("cores")
    return f"{cpu} ({cores} cores{', ' + isa if isa else ''}), {r['date'][:10]}, commit {r.get('commit') or '?'}"


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    print(f"wrote {path}")


def finish(fig, r, title, out, name):
    fig.suptitle(title + "\n" + caption(r), fontsize=9)
    fig.tight_layout()
    save(fig, out, name)


def two_bars(labels, colors, left, right, height):
    """Two bar panels side by side; left and right are (values, title, unit)."""
    fig, axes = plt.subplots(1, 2, figsize=(7, height))
    for ax, (values, title, unit) in zip(axes, (left, right)):
        barh(ax, labels, values, colors, unit=unit)
        ax.set_title(title, loc="left")
    axes[1].set_yticks([])
    return fig


def barh(ax, labels, values, colors, errors=None, unit=""):
    y = range(len(labels))
    ax.barh(list(y), values, color=colors, xerr=errors, capsize=3 if errors else 0)
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:,.1f}{unit}", va="center", fontsize=8)
    ax.margins(x=0.2)


def engine(r, out):
    c = r["comparisons"].get("engine")
    if not c:
        return
    nets = sorted({row["network"] for row in c["rows"]})
    sides = ["edgestack simd fp32", "edgestack simd int8", "edgestack xnnpack fp32",
             "edgestack xnnpack int8", "xnnpack direct fp32", "xnnpack direct int8", "ort minus overhead"]
    fig, axes = plt.subplots(len(nets), 1, figsize=(7, 2.2 * len(nets)), squeeze=False)
    for ax, net in zip(axes[:, 0], nets):
        rows = {row["runtime"]: row for row in c["rows"] if row["network"] == net}
        present = [s for s in sides if s in rows]
        med = [rows[s]["median_us"] for s in present]
        err = [[rows[s]["median_us"] - rows[s]["min_us"] for s in present],
               [rows[s]["max_us"] - rows[s]["median_us"] for s in present]]
        colors = [OURS if s.startswith("edgestack") else PEER if s.startswith("ort") else OTHER
                  for s in present]
        labels = [s.replace("ort minus overhead", "ONNX Runtime (call overhead removed)")
                  .replace("xnnpack direct", "XNNPACK called directly") for s in present]
        barh(ax, labels, med, colors, err)
        ax.set_title(f"{net}: batch-1 latency, 1 thread (µs, median of {c['rounds']} rounds, range)",
                     loc="left")
    finish(fig, r, "Inference latency against ONNX Runtime and XNNPACK", out, "engine_peers.svg")


def train(r, out):
    c = r["comparisons"].get("train")
    if not c:
        return
    e, t = c["edgestack"], c["pytorch"]
    fig = two_bars(["edgestack", "PyTorch"], [OURS, PEER],
                   ([e["samples_per_s"], t["samples_per_s"]], "training samples/s (higher is better)", ""),
                   ([e["peak_rss_mib"], t["peak_rss_mib"]], "peak memory (lower is better)", " MiB"), 2.2)
    limit = f", first {c['limit']} images" if c.get("limit") else ""
    finish(fig, r, f"Reference CNN on Fashion-MNIST, batch 64, {c['threads']} threads, "
                   f"{c['epochs']} epochs{limit}", out, "train_pytorch.svg")


def serve(r, out):
    c = r["comparisons"].get("serve")
    if not c:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(7, 2.0))
    runs = ["steady", "hot_reload"]
    labels = ["steady load", f"{c['version_switches']} version switches"]
    barh(a, labels, [c[k]["rps"] for k in runs], [OURS, OURS])
    a.set_title("requests/s", loc="left")
    x = range(2)
    b.bar([i - 0.2 for i in x], [c[k]["p50_ms"] for k in runs], 0.4, label="p50", color=OURS)
    b.bar([i + 0.2 for i in x], [c[k]["p99_ms"] for k in runs], 0.4, label="p99", color=OTHER)
    b.set_xticks(list(x), labels)
    b.set_title("latency (ms)", loc="left")
    b.legend(frameon=False)
    failed = sum(c[k]["non200"] + c[k]["timeouts"] for k in runs)
    finish(fig, r, f"edgestack-serve under wrk, {c['duration_s']:.0f} s per run, {failed:.0f} failed "
                   "requests", out, "serve.svg")


def compile_time(r, out):
    c = r["comparisons"].get("compile_time")
    if not c or not c.get("runs"):
        return
    labels, colors, seconds, memory = [], [], [], []
    for flags, run in c["runs"].items():
        for side, color in (("edgestack", OURS), ("dlib", PEER)):
            labels.append(f"{side} {flags}")
            colors.append(color)
            seconds.append(run[side]["cpu_s"])
            memory.append(run[side]["peak_mib"])
    fig = two_bars(labels, colors, (seconds, "compiler CPU time", " s"),
                   (memory, "peak compiler memory", " MiB"), 0.6 + 0.35 * len(labels))
    finish(fig, r, f"The reference trainer's translation unit against dlib's ({c.get('compiler', '?')} "
                   f"{c.get('flags', '')})", out, "compile_time.svg")


def program(r, name, data, out):
    """Every benchmark of one Google Benchmark program: real time, log scale."""
    if "ranks" in data:  # MPI: one run per rank count
        rows = []
        for ranks, run in sorted(data["ranks"].items()):
            rows += [(f"{b['name']} [{ranks} rank{'s' if ranks != '1' else ''}]", b)
                     for b in run["benchmarks"]]
    else:
        rows = [(b["name"], b) for b in data["benchmarks"]]
    # Repeated benchmarks: their median only. Names without the run's settings.
    if any(b.get("run_type") == "aggregate" for _, b in rows):
        rows = [(n, b) for n, b in rows if b.get("run_type") != "aggregate"
                and not any(o.get("run_type") == "aggregate" and o.get("run_name") == b.get("run_name")
                            for _, o in rows)
                or b.get("aggregate_name") == "median"]
    rows = [(re.sub(r"/(iterations|repeats|min_time):[0-9.]+|/real_time|_median", "", n), b)
            for n, b in rows]
    if not rows:
        return
    scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}
    values = [b["real_time"] * scale.get(b.get("time_unit", "ns"), 1e-3) for _, b in rows]
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.22 * len(rows)))
    barh(ax, [n for n, _ in rows], values, [OURS] * len(rows), unit=" µs")
    ax.set_xscale("log")
    ax.set_xlabel("real time per iteration (µs, log scale)")
    finish(fig, r, name, out, name + ".svg")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results file written by bench/run.py")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "docs", "img", "bench"))
    a = ap.parse_args()
    with open(a.results) as f:
        r = json.load(f)
    if r.get("schema") != 1:
        sys.exit(f"{a.results}: not a results file of bench/run.py (schema {r.get('schema')!r})")
    if r.get("smoke"):
        print("note: a smoke run: its figures mean nothing")
    os.makedirs(a.out, exist_ok=True)
    engine(r, a.out)
    train(r, a.out)
    serve(r, a.out)
    compile_time(r, a.out)
    for name, data in sorted(r["programs"].items()):
        program(r, name, data, a.out)


if __name__ == "__main__":
    main()
