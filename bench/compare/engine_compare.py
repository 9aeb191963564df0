#!/usr/bin/env python3
"""Batch-1 latency of the reference CNN and the depthwise-separable CNN: edgestack (Simd
fp32 and int8, Xnnpack backend) against ONNX Runtime (node binding, graph optimization
'all', same thread count, its per-call overhead measured in the same run and subtracted)
and against XNNPACK called directly. Processes alternate (ours, ORT, ours, ORT, ...); each
round yields one median per side; the table gives the median of the rounds and their range.

The keyword-spotting networks (49 x 10 in, GRU or LSTM of 64 units, dense 12, softmax;
--nets kws_gru,kws_lstm) are timed in fp32 on Simd and the Xnnpack backend only, and so is
PyTorch's export of a two-layer transformer encoder (d = 64, 4 heads, same input;
--nets kws_transformer; ONNX Runtime runs PyTorch's file, we its import). The 1-D sensor
network (128 steps x 6 channels, Conv1D, MaxPool1D, DepthwiseConv1D, AvgPool1D, global
average, dense; --nets sensor1d) is timed fp32 and int8 on our engines (ORT runs our export
of it, N x T x C in, 1-D Conv/pool nodes between Transposes).

usage: engine_compare.py --build BUILD_DIR --ort ORT_NODE_DIR [--rounds 5] [--runs 400]
                         [--nets cnn,ds_cnn]   (any of cnn, ds_cnn, kws_gru, kws_lstm, kws_transformer,
                                                sensor1d)
                         [--json FILE]   (also write the medians and ranges as JSON)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

NETS = {"cnn": "1,28,28,1", "ds_cnn": "1,28,28,1", "kws_gru": "1,49,10", "kws_lstm": "1,49,10",
        "kws_transformer": "1,49,10", "sensor1d": "1,128,6"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="build folder holding bench/engine/bench_engine_peers")
    ap.add_argument("--ort", required=True, help="folder holding node_modules/onnxruntime-node")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--nets", default="cnn,ds_cnn", help="comma-separated: " + ", ".join(NETS))
    ap.add_argument("--json", help="write the results here as JSON")
    a = ap.parse_args()
    nets = {n: NETS[n] for n in a.nets.split(",")}
    peers = os.path.join(a.build, "bench", "engine", "bench_engine_peers")
    if not os.path.exists(peers):
        sys.exit(f"engine_compare: {peers} is missing - build the target bench_engine_peers")
    if not os.path.isdir(os.path.join(a.ort, "node_modules", "onnxruntime-node")):
        sys.exit(f"engine_compare: ONNX Runtime not found under {a.ort}/node_modules/onnxruntime-node "
                 "(npm install --ignore-scripts onnxruntime-node@1.30.0)")
    js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_ort.js")
    results = {}  # (net, side) -> [medians]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([peers, "--write-onnx", tmp], check=True, stdout=subprocess.DEVNULL)
        for r in range(a.rounds):
            for net, dims in nets.items():
                out = subprocess.run([peers, "--measure", net, "--rounds", "1", "--runs", str(a.runs)],
                                     check=True, capture_output=True, text=True).stdout
                for line in out.splitlines():
                    if line.startswith("#"):  # its own checks, passed
                        continue
                    n, side, _, us = line.split("\t")
                    results.setdefault((n, side), []).append(float(us))
                out = subprocess.run(["node", js, a.ort, os.path.join(tmp, net + ".onnx"), dims,
                                      os.path.join(tmp, "overhead_add.onnx"), "1", "1", str(a.runs)],
                                     check=True, capture_output=True, text=True).stdout
                for line in out.splitlines():
                    side, _, us = line.split("\t")
                    results.setdefault((net, side), []).append(float(us))
    for net in nets:
        ort = results[(net, "ort")]
        ovh = results[(net, "ort-overhead")]
        results[(net, "ort minus overhead")] = [o - h for o, h in zip(ort, ovh)]
    print(f"| network | runtime (1 thread, batch 1) | median µs | range over {a.rounds} rounds | vs ORT in-process |")
    print("|---|---|---|---|---|")
    rows = []
    for net in nets:
        base = statistics.median(results[(net, "ort minus overhead")])
        for side in ["edgestack simd fp32", "edgestack simd int8", "edgestack xnnpack fp32", "edgestack xnnpack int8",
                     "xnnpack direct fp32", "xnnpack direct int8", "ort", "ort-overhead", "ort minus overhead"]:
            if (net, side) not in results:  # the sequence networks: fp32 engines only
                continue
            v = results[(net, side)]
            m = statistics.median(v)
            print(f"| {net} | {side} | {m:.1f} | {min(v):.1f}–{max(v):.1f} | {m / base:.2f}x |")
            rows.append({"network": net, "runtime": side, "median_us": m, "min_us": min(v),
                         "max_us": max(v), "vs_ort": m / base})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": 1, "batch": 1, "rounds": a.rounds, "runs": a.runs, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
