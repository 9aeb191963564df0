#!/usr/bin/python3
"""PyTorch side of the training comparison: the reference Fashion-MNIST CNN, same recipe
as examples/fashion_mnist_train (Adam 1e-3, batch 64, inputs scaled to [0, 1], no
augmentation). Prints one RESULT line for train_compare.py.

Run with Debian's python3-torch (/usr/bin/python3). Give it a real BLAS through
LD_LIBRARY_PATH (train_compare.py does), or it runs on the netlib reference BLAS.
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, rank = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not a uint8 IDX file")
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(folder, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(os.path.join(folder, stem) + "(.gz)")


def load(folder, split, limit):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(find(folder, prefix + "-images-idx3-ubyte"))
    y = read_idx(find(folder, prefix + "-labels-idx1-ubyte"))
    if limit:
        x, y = x[:limit], y[:limit]
    # Kept as uint8, as edgestack keeps it, and scaled to [0, 1] one batch at a time: a float
    # copy of the whole set would add about 190 MB to PyTorch's peak memory.
    x = torch.from_numpy(np.array(x)).unsqueeze(1)  # NCHW, uint8 (a writable copy)
    return x, torch.from_numpy(y.astype(np.int64))


def as_float(x):
    return x.float().div_(255.0)


def blas_in_use():
    """Which BLAS library the process mapped (from /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
        return ",".join(sorted(libs)) or "none"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training samples")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load(args.data, "train", args.limit)
    x_test, y_test = load(args.data, "test", 0)

    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    n = x_train.shape[0]
    train_seconds = 0.0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(as_float(x_train[idx])), y_train[idx])
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        train_seconds += dt
        print(f"torch epoch {epoch + 1}/{args.epochs}: {n / dt:.0f} samples/s", flush=True)

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x_test.shape[0], 1000):
            correct += (model(as_float(x_test[i:i + 1000])).argmax(1) == y_test[i:i + 1000]).sum().item()
    acc = correct / x_test.shape[0]
    print(f"RESULT name=pytorch-{torch.__version__} samples_per_s={n * args.epochs / train_seconds:.1f} "
          f"test_accuracy={acc:.4f} train_seconds={train_seconds:.2f} blas={blas_in_use()} "
          f"threads={torch.get_num_threads()}", flush=True)


if __name__ == "__main__":
    main()
