"""Fit scikit-learn's KMeans and LinearRegression, and say which implementation ran.

    python fit_stock.py                  stock scikit-learn
    python -m sklearnex fit_stock.py     the same script, patched by the Intel extension: no code change

One process, no MPI. Prints the module each estimator came from and the best time of its fit.
"""
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression


def best_seconds(fit, repeats=2):
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fit()
        best = min(best, time.perf_counter() - started)
    return best


rng = np.random.default_rng(0)
points = rng.normal(size=(100_000, 20)) + rng.integers(0, 4, size=(100_000, 1)) * 3.0
X = rng.normal(size=(300_000, 32))
y = X @ np.linspace(-1, 1, 32) + 0.5

for name, estimator, data in (
        ("KMeans", KMeans(8, init=points[:8], n_init=1, max_iter=20, tol=0, algorithm="lloyd"), (points,)),
        ("LinearRegression", LinearRegression(), (X, y))):
    seconds = best_seconds(lambda: estimator.fit(*data))
    print(f"{name} from {type(estimator).__module__}: fit in {seconds:.3f} s")
