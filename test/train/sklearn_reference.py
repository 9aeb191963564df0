# The scikit-learn figures that test/train/regression_test.cpp checks edgestack's metrics
# against. Run with the Debian interpreter (python3-sklearn): /usr/bin/python3 sklearn_reference.py
import numpy as np
from sklearn.metrics import r2_score, roc_auc_score

# ROC-AUC, with tied scores across the two classes.
print("roc_auc a", repr(roc_auc_score([0, 0, 1, 1, 1, 0, 1, 0, 1, 0],
                                      [0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05, 0.6, 0.4])))
print("roc_auc b", repr(roc_auc_score([0, 0, 1, 0, 1, 1, 0, 1], [3, 1, 2, 2, 5, 5, 0.5, 7])))
# R², two outputs averaged uniformly, and the first output alone.
t = [[3.0, -0.5], [-0.5, 2.0], [2.0, 7.0], [7.0, 4.5], [1.5, 1.0]]
p = [[2.5, 0.0], [0.0, 2.0], [2.0, 8.0], [8.0, 4.0], [1.0, 1.5]]
print("r2 two outputs", repr(r2_score(t, p)))
print("r2 first output", repr(r2_score([r[0] for r in t], [r[0] for r in p])))
# NumPy's default (linear) quantile.
print("quantile 0.9", repr(np.quantile([5, 1, 4, 2, 3, 10, 7], 0.9)))
