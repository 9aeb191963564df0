#!/usr/bin/env python3
"""Batch-1, one-thread latency of the five PyTorch exports in test/fixtures (reference CNN,
ResNet with stride-2 stages, DS-CNN, MobileNet-style, dense autoencoder), imported by
edgestack, at every instruction-set level this CPU runs (EDGESTACK_ISA), against ONNX
Runtime on the same files: our fp32 against ORT on PyTorch's export, our int8 (GraphPtq,
min-max) against ORT on our QDQ export of that same int8 graph (graph optimization 'all',
so ORT fuses it into its own int8 kernels). ORT's per-call binding overhead is measured in
the same run with a one-Add model and subtracted. Processes alternate: for each round, each
network, each level, ours then ORT; the tables give the median over the rounds.

usage: isa_compare.py --build BUILD_DIR --ort ORT_NODE_DIR [--rounds 3] [--runs 300]
                      [--nets reference_cnn,resnet,ds_cnn,mobilenet,autoencoder] [--json FILE]
"""
import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "test", "fixtures")
# File and ONNX input dims (batch first, as PyTorch exported it).
NETS = {"reference_cnn": ("reference_cnn.onnx.gz", "1,1,28,28"), "resnet": ("resnet.onnx", "1,3,16,16"),
        "ds_cnn": ("ds_cnn.onnx", "1,1,49,10"), "mobilenet": ("mobilenet.onnx", "1,3,96,96"),
        "autoencoder": ("autoencoder.onnx", "1,64")}


def lines(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [l for l in out.splitlines() if l and not l.startswith("#")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build folder holding bench/engine/bench_engine_onnx")
    ap.add_argument("--ort", required=True, help="folder holding node_modules/onnxruntime-node")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--nets", default=",".join(NETS))
    ap.add_argument("--json", help="write the medians as JSON")
    a = ap.parse_args()
    prog = os.path.join(a.build, "bench", "engine", "bench_engine_onnx")
    peers = os.path.join(a.build, "bench", "engine", "bench_engine_peers")
    for p in (prog, peers):
        if not os.path.exists(p):
            sys.exit(f"isa_compare: {p} is missing - build the targets bench_engine_onnx and bench_engine_peers")
    if not os.path.isdir(os.path.join(a.ort, "node_modules", "onnxruntime-node")):
        sys.exit(f"isa_compare: ONNX Runtime not found under {a.ort}/node_modules/onnxruntime-node")
    js = os.path.join(HERE, "engine_ort.js")
    levels = lines([prog, "--levels"])
    nets = a.nets.split(",")
    res = {}  # (net, level or "ort", side) -> [medians]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([peers, "--write-onnx", tmp], check=True, stdout=subprocess.DEVNULL)  # overhead_add.onnx
        add = os.path.join(tmp, "overhead_add.onnx")
        files = {}
        for n in nets:
            src, dims = NETS[n]
            dst = os.path.join(tmp, n + ".onnx")
            opener = gzip.open if src.endswith(".gz") else open
            with opener(os.path.join(FIXTURES, src), "rb") as f, open(dst, "wb") as g:
                shutil.copyfileobj(f, g)
            qdq = os.path.join(tmp, n + ".qdq.onnx")
            qdims = lines([prog, "--qdq", dst, qdq])[0]
            files[n] = (dst, dims, qdq, qdims)
        for _ in range(a.rounds):
            for n in nets:
                dst, dims, qdq, qdims = files[n]
                for lv in levels:
                    env = dict(os.environ, EDGESTACK_ISA=lv)
                    for l in lines([prog, "--measure", dst, "--runs", str(a.runs)], env):
                        side, us = l.split("\t")
                        res.setdefault((n, lv, side), []).append(float(us))
                for model, d, tag in ((dst, dims, "fp32"), (qdq, qdims, "int8")):
                    for l in lines(["node", js, a.ort, model, d, add, "1", "1", str(a.runs)]):
                        side, _, us = l.split("\t")
                        res.setdefault((n, "ort", side + " " + tag), []).append(float(us))
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"| network | level | simd fp32 / ORT fp32 | xnnpack fp32 / ORT fp32 | simd int8 / ORT int8 | "
          f"xnnpack int8 / ORT int8 | simd int8 / simd fp32 |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    def ort(n, tag):
        # A model cheaper than the binding's own per-call cost (a one-Add model) leaves nothing
        # to measure after the subtraction: no ratio is given then.
        v = med[(n, "ort", "ort " + tag)] - med[(n, "ort", "ort-overhead " + tag)]
        return v if v > 0.25 * med[(n, "ort", "ort " + tag)] else None

    def ratio(a, b):
        return f"{a / b:.2f}" if b else "n/a"

    for n in nets:
        ort32, ort8 = ort(n, "fp32"), ort(n, "int8")
        for lv in levels:
            s32, x32 = med[(n, lv, "simd fp32")], med[(n, lv, "xnnpack fp32")]
            s8, x8 = med[(n, lv, "simd int8")], med[(n, lv, "xnnpack int8")]
            print(f"| {n} | {lv} | {ratio(s32, ort32)} | {ratio(x32, ort32)} | {ratio(s8, ort8)} | {ratio(x8, ort8)} | "
                  f"{s8 / s32:.2f} |")
            rows.append({"network": n, "level": lv, "simd_fp32_us": s32, "xnnpack_fp32_us": x32,
                         "simd_int8_us": s8, "xnnpack_int8_us": x8, "ort_fp32_us": ort32, "ort_int8_us": ort8})
    def us(v):
        return f"{v:.1f}" if v else "below the binding's overhead"

    print("\nONNX Runtime in-process (µs, the binding's overhead subtracted): " +
          ", ".join(f"{n} {us(ort(n, 'fp32'))} fp32 / {us(ort(n, 'int8'))} int8" for n in nets))
    print("Simd at the highest level (µs): " +
          ", ".join(f"{n} {med[(n, levels[-1], 'simd fp32')]:.1f} fp32 / {med[(n, levels[-1], 'simd int8')]:.1f} int8"
                    for n in nets))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "runs": a.runs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
