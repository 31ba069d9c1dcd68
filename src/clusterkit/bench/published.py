"""The published figures the report quotes beside its measurements: value, what it is, and where it is from.

Quoted, never measured: they were taken on other machines (large Xeon servers, 2017-2019), so they are the
figure a row *echoes*, not a target this machine should reach.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Published:
    value: float | None
    label: str
    source: str

    def as_dict(self) -> dict:
        return asdict(self)


SKLEARNEX_README = ("scikit-learn-intelex's own speed-up table over stock scikit-learn, as the course's issue 15 "
                    "quotes it (https://github.com/intel/scikit-learn-intelex); not re-checked offline")
KMEANS_PATCHED = Published(7.7, "7.7x k-means, Intel Extension for Scikit-learn vs stock, large Xeon", SKLEARNEX_README)
LINREG_PATCHED = Published(48.5, "48.5x linear regression, Intel Extension for Scikit-learn vs stock, large Xeon",
                           SKLEARNEX_README)
SEED_WORKSHOP = ("the course's seed workshop, as quoted in "
                 "solutions/02_daal4py/04_distributed_linear_regression.ipynb (section 5)")
LINREG_32_NODES = Published(None, "32 nodes: linear regression on 2.15 TB in 1.18 s", SEED_WORKSHOP)
KMEANS_32_NODES = Published(None, "32 nodes: k-means on 1.12 TB in 107.4 s", SEED_WORKSHOP)
HOROVOD_EFFICIENCY = Published(0.90, "90% scaling efficiency (Inception V3, ResNet-101; Horovod on 128 GPUs)",
                               "https://github.com/horovod/horovod#why-horovod ; Sergeev & Del Balso, "
                               "arXiv:1802.05799 (2018)")
INTEL_TENSORFLOW = Published(7.4, "up to 7.4x, Intel-optimised TensorFlow (MKL-DNN) vs default build, 2018",
                             "N. Greeneltch, J. Xu, 'Effectively Train and Execute Machine Learning and Deep Learning "
                             "Projects on CPUs', Intel (2019), https://www.intel.com/content/www/us/en/developer/"
                             "articles/technical/effectively-train-execute-ml-dl-projects-on-cpus.html (the course's "
                             "seed article), as the course's issue 15 quotes it; not re-checked offline")
README_TIMES = "README.md, 'Measured on this machine' (recorded 2026-12-02; not measured by this run)"
COLD_SETUP = Published(267.0, "cold setup 267 s (quiet machine, empty pip cache)", README_TIMES)
MAKE_TEST = Published(1678.0, "`make test` on a fresh clone 27 min 58 s (30 min 38 s with an empty pip cache), "
                      "cold setup included", README_TIMES)
WARM_SETUP = Published(21.0, "warm setup 21 s", README_TIMES)
