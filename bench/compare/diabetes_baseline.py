# Baselines for examples/diabetes_regressor on the same split (every fifth row held out) and
# the same preprocessing (features standardized and target scaled with statistics of the
# training rows): scikit-learn's LinearRegression, and PyTorch training the same network
# (10 -> 32 -> ReLU -> 16 -> ReLU -> 1, Adam 1e-3, batch 32, MSE, 60 epochs) over five seeds.
# Run with the Debian interpreter (python3-sklearn, python3-torch); bench/run.py runs it as
# the comparison "diabetes":
#   /usr/bin/python3 bench/compare/diabetes_baseline.py [--data DIR] [--seeds N] [--json OUT]
import argparse
import json

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

ap = argparse.ArgumentParser(description="LinearRegression and PyTorch baselines of the diabetes regressor")
ap.add_argument("--data", default="/usr/lib/python3/dist-packages/sklearn/datasets/data",
                help="folder with scikit-learn's diabetes CSV files")
ap.add_argument("--seeds", type=int, default=5, help="PyTorch trainings, seeds 1..N")
ap.add_argument("--json", help="also write the figures here")
args = ap.parse_args()
data = args.data
results = {}
X = np.loadtxt(f"{data}/diabetes_data_raw.csv.gz")
y = np.loadtxt(f"{data}/diabetes_target.csv.gz")
test = np.arange(len(y)) % 5 == 0
mu, sd = X[~test].mean(0), X[~test].std(0)
Xs = (X - mu) / sd
ym, ys = y[~test].mean(), y[~test].std()


def report(name, pred):
    t = y[test]
    results[name] = {"mae": float(mean_absolute_error(t, pred)),
                     "rmse": float(mean_squared_error(t, pred) ** 0.5), "r2": float(r2_score(t, pred))}
    print(f"{name:28s} MAE {mean_absolute_error(t, pred):6.2f}  "
          f"RMSE {mean_squared_error(t, pred) ** 0.5:6.2f}  R2 {r2_score(t, pred):.4f}")


report("sklearn LinearRegression", LinearRegression().fit(Xs[~test], y[~test]).predict(Xs[test]))

import torch

torch.set_num_threads(1)
xt = torch.tensor(Xs[~test], dtype=torch.float32)
yt = torch.tensor((y[~test] - ym) / ys, dtype=torch.float32).unsqueeze(1)
for seed in range(1, args.seeds + 1):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(60):
        for idx in torch.randperm(len(xt)).split(32):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(torch.tensor(Xs[test], dtype=torch.float32)).squeeze(1).numpy() * ys + ym
    report(f"PyTorch same net, seed {seed}", pred)

if args.json:
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
