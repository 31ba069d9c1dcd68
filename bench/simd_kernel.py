"""SIMD alone: the same C loop compiled twice, vectorised for this CPU and scalar, timed side by side.

    python simd_kernel.py --repeats 5

The loop is y = a * x + y over float32 arrays that fit in the first-level cache, so memory does not limit
it. `gcc -O3 -march=native` turns it into vector instructions for this CPU (with
`-mprefer-vector-width=512` as wide as it has); `-fno-tree-vectorize -fno-tree-slp-vectorize` keeps it one
number per instruction. Prints `compiler=`, then `result=` with the seconds of every call as JSON:
{"vectorised": [...], "vectorised_widest": [...], "scalar": [...]}.
"""
import argparse
import ctypes
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from clusterkit.bench.stats import interleaved

SOURCE = """
void axpy(float *y, const float *x, float a, long n, long sweeps) {
    for (long sweep = 0; sweep < sweeps; sweep++)
        for (long i = 0; i < n; i++)
            y[i] = a * x[i] + y[i];
}
"""
FLAGS = {"vectorised": ["-O3", "-march=native"],  # gcc picks the vector width (it may prefer 256 bits to 512)
         "vectorised_widest": ["-O3", "-march=native", "-mprefer-vector-width=512"],
         "scalar": ["-O3", "-march=native", "-fno-tree-vectorize", "-fno-tree-slp-vectorize"]}
ELEMENTS, SWEEPS = 4096, 100_000  # 16 KiB per array; 410 million multiply-adds per call

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()
compiler = shutil.which("gcc")
if compiler is None:
    sys.exit("unavailable: gcc is not installed, so no kernel can be compiled")

x = np.random.default_rng(0).random(ELEMENTS, dtype=np.float32)
y = np.zeros_like(x)
pointer = ctypes.POINTER(ctypes.c_float)


def compiled_kernel(folder, name):
    library = Path(folder) / f"axpy_{name}.so"
    subprocess.run([compiler, *FLAGS[name], "-shared", "-fPIC", "-x", "c", "-", "-o", str(library)],
                   input=SOURCE, text=True, check=True)
    axpy = ctypes.CDLL(str(library)).axpy
    axpy.argtypes = [pointer, pointer, ctypes.c_float, ctypes.c_long, ctypes.c_long]

    def timed():
        started = time.perf_counter()
        axpy(y.ctypes.data_as(pointer), x.ctypes.data_as(pointer), 1e-4, ELEMENTS, SWEEPS)
        return time.perf_counter() - started
    return timed


with tempfile.TemporaryDirectory() as folder:
    kernels = {name: compiled_kernel(folder, name) for name in FLAGS}
    for kernel in kernels.values():
        kernel()  # untimed: page in the library and the arrays
    print(f"compiler={subprocess.run([compiler, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"result={json.dumps(interleaved(kernels, args.repeats))}")
