"""Stock scikit-learn vs daal4py vs scikit-learn patched by the Intel extension: same data, one process.

    python sklearn_vs_daal4py.py --kmeans-rows 200000 --linreg-rows 1000000 --repeats 5

Each round fits every variant once, interleaved, from the same data and (k-means) the same start, so the
ratios of one round compare fits made side by side. Every variant uses the threads it would by default.
Prints `patched_accelerated=` (whether the extension reported running oneDAL for both estimators) and
`result=` with the seconds of every fit as JSON: {variant: [seconds per round]}.
"""
import argparse
import json
import logging
import time

import daal4py as d4p
import numpy as np
import sklearn.cluster
import sklearn.linear_model
import sklearnex.cluster
import sklearnex.linear_model

from clusterkit.bench.stats import interleaved

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--kmeans-rows", type=int, required=True)
parser.add_argument("--linreg-rows", type=int, required=True)
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()

CLUSTERS, ITERATIONS, KMEANS_FEATURES, LINREG_FEATURES = 16, 10, 20, 50
rng = np.random.default_rng(0)
points = rng.normal(size=(args.kmeans_rows, KMEANS_FEATURES)) + rng.integers(0, 4, (args.kmeans_rows, 1)) * 3.0
start = points[:CLUSTERS]
X = rng.normal(size=(args.linreg_rows, LINREG_FEATURES))
y = X @ np.linspace(-1, 1, LINREG_FEATURES) + 0.5


def kmeans_estimator(module):
    return module.KMeans(CLUSTERS, init=start, n_init=1, max_iter=ITERATIONS, tol=0, algorithm="lloyd")


def seconds(fit):
    def timed():
        started = time.perf_counter()
        fit()
        return time.perf_counter() - started
    return timed


variants = {
    "kmeans_stock": seconds(lambda: kmeans_estimator(sklearn.cluster).fit(points)),
    "kmeans_daal4py": seconds(lambda: d4p.kmeans(CLUSTERS, maxIterations=ITERATIONS, accuracyThreshold=0)
                              .compute(points, start)),
    "kmeans_patched": seconds(lambda: kmeans_estimator(sklearnex.cluster).fit(points)),
    "linreg_stock": seconds(lambda: sklearn.linear_model.LinearRegression().fit(X, y)),
    "linreg_daal4py": seconds(lambda: d4p.linear_regression_training(interceptFlag=True).compute(X, y[:, None])),
    "linreg_patched": seconds(lambda: sklearnex.linear_model.LinearRegression().fit(X, y)),
}


class Messages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = []

    def emit(self, record):
        self.seen.append(record.getMessage())


messages = Messages()
logger = logging.getLogger("sklearnex")
logger.addHandler(messages)
logger.setLevel(logging.INFO)
for name in variants:  # untimed first fits: imports, caches, thread pools
    variants[name]()
accelerated = [any(estimator in m and "accelerated" in m for m in messages.seen)
               for estimator in ("KMeans.fit", "LinearRegression.fit")]
logger.removeHandler(messages)
logger.setLevel(logging.WARNING)
print(f"patched_accelerated={all(accelerated)}")
print(f"result={json.dumps(interleaved(variants, args.repeats))}")
