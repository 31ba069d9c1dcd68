# EXERCISE SCRIPT: yours to edit where it says TODO. Its solution: solutions/02_daal4py/quantize.py (`%solution` loads it). Made from it by `make exercises`; sha256:e2bd428b2052b787
"""Colour quantization with distributed k-means: every rank runs this script.

    mpirun -n 2 python -m mpi4py quantize.py --colours 16 --out runs/quantize [--image photo.jpg]

Each rank takes one block of the image's pixels; the ranks find the palette together (distributed
k-means); each rank then labels its own pixels with the palette, and rank 0 gathers the labels and
writes the quantized image. Only rank 0 prints.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import daal4py as d4p
import numpy as np
from PIL import Image

from clusterkit.rank import IMAGE_FILE, PALETTE_FILE, RUN_FILE
from clusterkit.rank import InputError, load_rgb_image, require_colours, require_rows_per_rank


def pixel_block(n_pixels, rank, size):
    """The contiguous slice of pixels that `rank` of `size` owns; sizes differ by at most one."""
    # TODO: return slice(start, stop) of this rank's block; the first n_pixels % size ranks get one extra pixel
    raise NotImplementedError("TODO: return slice(start, stop) of this rank's block; the first n_pixels % size ranks get one extra pixel")


def fit_palette(block, n_colours, iterations, seed):
    """Distributed plusPlusDense start, then distributed k-means: (start, result) on every rank."""
    # TODO: kmeans_init (plusPlusDense, seeded engine) then kmeans from its centroids, both distributed
    raise NotImplementedError("TODO: kmeans_init (plusPlusDense, seeded engine) then kmeans from its centroids, both distributed")
    return start.centroids, result


def label_pixels(block, centroids):
    """Index of the nearest centroid of each pixel of this rank's block: zero iterations, assignments on.

    Batch mode on purpose: kmeans(..., assignFlag=True, distributed=True) raises on rank 0 only, and
    the other ranks then wait for it forever."""
    inference = d4p.kmeans(len(centroids), maxIterations=0, assignFlag=True)
    return inference.compute(block, centroids).assignments.ravel()


def gather_and_write(comm, labels, centroids, shape, path):
    """Rank 0 collects every rank's labels and writes the image in the palette's colours."""
    # TODO: gather the labels on rank 0; there, paint each pixel with its centroid's colour and save a PNG
    raise NotImplementedError("TODO: gather the labels on rank 0; there, paint each pixel with its centroid's colour and save a PNG")


def main():
    from mpi4py import MPI  # initialises MPI; lets `python -m mpi4py` abort every rank if one raises

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="a JPEG or PNG file (default: scikit-learn's china.jpg)")
    parser.add_argument("--colours", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", required=True, help="folder for the palette and the quantized image")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD

    # every rank checks the same input before any rank waits on another
    try:
        image = load_rgb_image(args.image)
        pixels = image.reshape(-1, 3) / 255
        require_colours(args.colours, len(pixels))
        require_rows_per_rank(len(pixels), comm.size, at_least=args.colours, what="pixels")
    except InputError as problem:
        if comm.rank == 0:
            print(f"error: {problem}", flush=True)
        sys.exit(2)

    d4p.daalinit()  # joins the MPI job that mpi4py started; daal4py's ranks are MPI's ranks
    rank, size = d4p.my_procid(), d4p.num_procs()
    block = pixels[pixel_block(len(pixels), rank, size)]
    blocks = comm.gather(len(block), root=0)
    started = time.perf_counter()
    start, result = fit_palette(block, args.colours, args.iterations, args.seed)
    fit_seconds = time.perf_counter() - started
    labels = label_pixels(block, result.centroids)

    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        print(f"{len(pixels):,} pixels on {size} rank(s), blocks of {blocks} pixels")
        print(f"fit: {int(result.nIterations[0, 0])} iterations in {fit_seconds:.2f} s, "
              f"objective={result.objectiveFunction[0, 0]:.6g}")
        np.savez(out / PALETTE_FILE, start=start, centroids=result.centroids)
        image_path = str(Path(args.image).resolve()) if args.image else None  # None: china.jpg
        run = {"image": image_path, "colours": args.colours, "iterations": args.iterations, "seed": args.seed,
               "ranks": size, "shape": list(image.shape), "n_iterations": int(result.nIterations[0, 0])}
        (out / RUN_FILE).write_text(json.dumps(run))
    gather_and_write(comm, labels, result.centroids, image.shape, out / IMAGE_FILE)
    if rank == 0:
        print(f"wrote {out.name}/{IMAGE_FILE}")
    d4p.daalfini()


if __name__ == "__main__":
    main()
