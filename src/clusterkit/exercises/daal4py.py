"""Exercise checks of module 02_daal4py; each says PASS, or FAIL with a hint about the mistake made.

    check_same_start(model, centroids, iterations)   01: scikit-learn KMeans from daal4py's start
    check_pixel_block(pixel_block)                    02: the split of the pixels over the ranks
    check_distributed_fit(out_dir)                    02: distributed init + k-means in quantize.py
    check_gather_and_write(out_dir)                   02: rank 0 gathers the labels and writes the image
    check_streaming_moments(result, data, chunk_rows) 03: low_order_moments fed chunk by chunk
    check_partitions(folder, X, y, size)              04: one headerless CSV file per rank
    check_whole_node_rank(result)                     05: 1 rank that owns every core, a thread per CPU
    check_patched_class(estimator_class)              06: the class scikit-learn gives after patching

The input validation the per-rank scripts share is in `clusterkit.rank.validation`; the names of the files
they write are in `clusterkit.rank.artifacts`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clusterkit.rank.artifacts import IMAGE_FILE, PALETTE_FILE, RUN_FILE, partition_path
from clusterkit.exercises.checks import Hint, exercise_check
from clusterkit.machine.environment import written_since_fresh
from clusterkit.machine.topology import format_cpu_list
from clusterkit.rank.validation import InputError, load_rgb_image, require_headerless_csv


# ---------------------------------------------------------------------------------------------------
# 01 batch k-means


@exercise_check("scikit-learn's KMeans from daal4py's start")
def check_same_start(model, centroids, iterations: int) -> None:
    from sklearn.cluster import KMeans

    if not isinstance(model, KMeans):
        raise Hint(f"expected a fitted sklearn.cluster.KMeans, got {type(model).__name__}: call .fit(X) on it")
    if not hasattr(model, "cluster_centers_"):
        raise Hint("the model is not fitted yet: call .fit(X)")
    start = model.init
    if isinstance(start, str) or callable(start):
        raise Hint(f"init={start!r} draws its own start, so the runs cannot agree: pass init=start (the "
                   "centroids that kmeans_init found)")
    if model.n_clusters != len(centroids):
        raise Hint(f"n_clusters={model.n_clusters}, but daal4py found {len(centroids)} centroids")
    if model.n_init != 1:
        raise Hint(f"n_init={model.n_init}: with a given start there is one run to make; pass n_init=1")
    if model.max_iter != iterations:
        raise Hint(f"max_iter={model.max_iter}, but daal4py ran maxIterations={iterations}: use the same number")
    if model.tol != 0:
        raise Hint(f"tol={model.tol}: scikit-learn stops early once the centroids move less than that, daal4py "
                   "with accuracyThreshold=0 does not; pass tol=0")
    if getattr(model, "algorithm", "lloyd") != "lloyd":
        raise Hint(f"algorithm={model.algorithm!r}: daal4py's default method is Lloyd's; pass algorithm='lloyd'")
    if not np.allclose(model.cluster_centers_, centroids, rtol=1e-6, atol=1e-8):
        worst = float(np.abs(model.cluster_centers_ - centroids).max())
        raise Hint(f"the centroids differ by up to {worst:.3g}: was it fitted on the same X (same rows, "
                   "same scaling) as daal4py?")


# ---------------------------------------------------------------------------------------------------
# 02 distributed colour quantization

@exercise_check("Split the pixels into one block per rank")
def check_pixel_block(pixel_block) -> None:
    for n_pixels, size in ((12, 3), (10, 4), (273_280, 2), (7, 7), (5, 1), (100_003, 8)):
        blocks = [pixel_block(n_pixels, rank, size) for rank in range(size)]
        if not all(isinstance(block, slice) for block in blocks):
            raise Hint(f"pixel_block({n_pixels}, 0, {size}) returned {type(blocks[0]).__name__}: return a slice, "
                       "slice(start, stop), so that pixels[block] is a view of one contiguous block")
        if any(block.step not in (None, 1) for block in blocks):
            raise Hint("a step in the slice deals pixels out like cards (rank::size): rank 0 would gather "
                       "interleaved pixels; give each rank one contiguous block instead")
        owned = [range(n_pixels)[block] for block in blocks]
        if len({(r.start, r.stop) for r in owned}) < size:
            raise Hint(f"two ranks get the same block for {n_pixels} pixels on {size} ranks: the start must "
                       "depend on the rank")
        expected = 0
        for rank, block in enumerate(owned):
            if block.start != expected:
                problem = "overlaps the block before it" if block.start < expected else "leaves a gap after it"
                raise Hint(f"{n_pixels} pixels on {size} ranks: the block of rank {rank} starts at {block.start} "
                           f"and {problem} (it should start at {expected}); blocks must follow each other "
                           "in rank order")
            expected = block.stop
        if expected != n_pixels:
            raise Hint(f"{n_pixels} pixels on {size} ranks: the blocks cover {expected} pixels only. When "
                       "n_pixels is not a multiple of size, the remainder must go somewhere (e.g. one extra "
                       "pixel to each of the first n_pixels % size ranks)")
        lengths = [len(block) for block in owned]
        if max(lengths) - min(lengths) > 1:
            raise Hint(f"{n_pixels} pixels on {size} ranks give blocks of {lengths}: spread the remainder so "
                       "that sizes differ by at most one, or the biggest block makes every rank wait")


def _run_outputs(out_dir):
    out_dir = Path(out_dir)
    if not (out_dir / RUN_FILE).exists() or not (out_dir / PALETTE_FILE).exists():
        raise Hint(f"no {RUN_FILE} / {PALETTE_FILE} in {out_dir.name}/: run quantize.py with --out pointing "
                   "there first (its rank 0 writes them after the fit)")
    _require_this_run(out_dir / RUN_FILE, out_dir / PALETTE_FILE)
    run = json.loads((out_dir / RUN_FILE).read_text())
    with np.load(out_dir / PALETTE_FILE) as saved:
        palette = {key: saved[key] for key in saved.files}
    pixels = load_rgb_image(run["image"]).reshape(-1, 3) / 255
    return run, palette, pixels


def _require_this_run(*paths) -> None:
    """Fail on a file left by an earlier run: it must be newer than its folder's runs_dir(fresh=True)."""
    for path in paths:
        if not written_since_fresh(path):
            raise Hint(f"{path.parent.name}/{path.name} is older than the run that emptied its folder: it was left "
                       "by an earlier run. Run the cell that starts the job again, then this check")


def _lloyd(pixels, start, iterations):
    import daal4py as d4p

    return d4p.kmeans(len(start), maxIterations=iterations, accuracyThreshold=0).compute(pixels, start)


def _first_block(n_pixels, size):
    from clusterkit.rank.data import shard

    return shard(n_pixels, 0, size)


@exercise_check("Distributed initialisation and k-means")
def check_distributed_fit(out_dir) -> None:
    run, palette, pixels = _run_outputs(out_dir)
    start, centroids = palette["start"], palette["centroids"]
    colours, iterations, size = run["colours"], run["iterations"], run["ranks"]
    if start.shape != (colours, 3) or centroids.shape != (colours, 3):
        raise Hint(f"expected {colours} centroids of 3 values (r, g, b), got start {start.shape} and centroids "
                   f"{centroids.shape}: pass nClusters={colours} and the pixel block of shape (n, 3)")
    rows = {tuple(row) for row in pixels}
    if not all(tuple(row) in rows for row in start):
        raise Hint("the starting centroids are not pixels of the image: plusPlusDense picks pixels as its "
                   "start; pass method='plusPlusDense' to kmeans_init")
    if np.array_equal(start, pixels[:colours]):
        raise Hint("the start is simply the first pixels (kmeans_init's default method, 'defaultDense'): "
                   "pass method='plusPlusDense'")
    reference = _lloyd(pixels, start, iterations)
    if run["n_iterations"] < reference.nIterations[0, 0]:  # with a threshold of 0 it stops only when converged
        raise Hint(f"k-means ran {run['n_iterations']} of the {iterations} iterations asked: it stopped early "
                   "because accuracyThreshold was not 0 (its meaning differs in batch and distributed mode); "
                   "pass accuracyThreshold=0 and maxIterations=iterations")
    if np.allclose(centroids, reference.centroids, rtol=1e-6, atol=1e-8):
        if size > 1:
            first = pixels[_first_block(len(pixels), size)]
            first_rows = {tuple(row) for row in first}
            if all(tuple(row) in first_rows for row in start) and len(first) < len(pixels):
                raise Hint("every starting centroid comes from rank 0's own block: kmeans_init ran on one block "
                           "alone. Pass distributed=True to kmeans_init as well")
        return
    rank_0_alone = _lloyd(pixels[_first_block(len(pixels), size)], start, iterations).centroids
    if size > 1 and np.allclose(centroids, rank_0_alone, rtol=1e-6, atol=1e-8):
        raise Hint("the centroids are those of rank 0's block alone: kmeans ran on each rank separately. "
                   "Pass distributed=True to kmeans (and call d4p.daalinit() first)")
    raise Hint("the centroids are not what Lloyd's k-means gives on the whole image from that start: pass the "
               "centroids of kmeans_init (init.centroids) to kmeans(...).compute(block, start), with "
               f"maxIterations={iterations}")


@exercise_check("Gather the labels and write the quantized image")
def check_gather_and_write(out_dir) -> None:
    from PIL import Image

    import daal4py as d4p

    run, palette, pixels = _run_outputs(out_dir)
    path = Path(out_dir) / IMAGE_FILE
    if not path.exists():
        raise Hint(f"rank 0 wrote no {IMAGE_FILE}: after the gather, rank 0 (and only rank 0) saves the image to "
                   "the path it was given")
    _require_this_run(path)
    written = np.asarray(Image.open(path))
    height, width = run["shape"][:2]
    centroids = palette["centroids"]
    labels = d4p.kmeans(len(centroids), maxIterations=0, assignFlag=True).compute(pixels, centroids)
    expected = (centroids[labels.assignments.ravel()] * 255).reshape(height, width, 3)
    if written.ndim == 2 or (written.ndim == 3 and written.shape[2] != 3):
        raise Hint(f"the image has shape {written.shape}: write colours, not labels. Look up each pixel's "
                   "centroid (palette[labels]) to get an (height, width, 3) image")
    if written.shape != expected.shape:
        got = written.size // 3
        hint = (f"it holds {got:,} pixels of {height * width:,}: did rank 0 write its own block only? Gather "
                "every rank's labels (comm.gather) and concatenate them" if got < height * width else
                "reshape the concatenated pixels to the image's (height, width, 3)")
        raise Hint(f"the image is {written.shape}, the original {expected.shape}: {hint}")
    if written.max() <= 1:
        raise Hint("the image is black: the centroids are on a 0..1 scale; multiply by 255 before "
                   "converting to uint8")
    difference = np.abs(written.astype(float) - expected)
    if difference.max() <= 1.0:  # rounding or truncating to uint8 are both fine
        return
    blocks = np.array_split(np.arange(height * width), run["ranks"])  # the same blocks as ck.shard
    reversed_order = np.concatenate(blocks[::-1])
    if run["ranks"] > 1 and np.abs(written.reshape(-1, 3) - expected.reshape(-1, 3)[reversed_order]).max() <= 1:
        raise Hint("the blocks are in the wrong order: concatenate the gathered blocks in rank order "
                   "(comm.gather returns them so on rank 0)")
    raise Hint(f"{np.mean(difference.max(axis=-1) > 1):.1%} of the pixels differ from the palette colour of "
               "their nearest centroid: label each rank's block with the final centroids and gather "
               "every block in rank order")


# ---------------------------------------------------------------------------------------------------
# 03 streaming


@exercise_check("Low-order moments, chunk by chunk")
def check_streaming_moments(result, data, chunk_rows: int) -> None:
    data = np.asarray(data, dtype=float)
    if result is None or not hasattr(result, "mean"):
        raise Hint(f"expected the result of finalize(), got {type(result).__name__}: after the loop, call "
                   "result = algorithm.finalize()")
    mean, variance = np.ravel(result.mean), np.ravel(result.variance)
    if np.allclose(mean, data.mean(axis=0)) and np.allclose(variance, data.var(axis=0, ddof=1)):
        return
    last = data[(len(data) - 1) // chunk_rows * chunk_rows:]
    if np.allclose(mean, last.mean(axis=0)):
        raise Hint("the moments are those of the last chunk only: create the streaming algorithm once, "
                   "before the loop, and call compute() on that same object for every chunk")
    if np.allclose(mean, data[:chunk_rows].mean(axis=0)):
        raise Hint("the moments are those of the first chunk only: call compute() for every chunk in the loop")
    raise Hint("the moments differ from those of the whole data set: feed every chunk exactly once to one "
               "low_order_moments(streaming=True) object, then call finalize()")


# ---------------------------------------------------------------------------------------------------
# 04 distributed linear regression


@exercise_check("One headerless CSV file per rank")
def check_partitions(folder, X, y, size: int) -> None:
    X, y = np.asarray(X), np.asarray(y).reshape(len(X), -1)
    expected_columns = X.shape[1] + y.shape[1]
    parts = []
    for rank in range(size):
        path = partition_path(folder, rank)
        if not path.exists():
            raise Hint(f"there is no {path.name}: write one file per rank, part_0.csv ... part_{size - 1}.csv")
        _require_this_run(path)
        try:
            require_headerless_csv(path)
        except InputError:
            raise Hint(f"{path.name} starts with a header row: daal4py would read it as data. pandas writes a "
                       "header and an index by default: pass header=False, index=False") from None
        part = np.loadtxt(path, delimiter=",", ndmin=2)
        counts_rows = np.array_equal(part[:, 0], part[0, 0] + np.arange(len(part)))
        if part.shape[1] == expected_columns + 1 and counts_rows:
            raise Hint(f"{path.name} has one column too many, and the first counts rows: that is pandas' "
                       "index. Pass index=False to to_csv")
        if part.shape[1] != expected_columns:
            raise Hint(f"{path.name} has {part.shape[1]} columns, expected {expected_columns} (the "
                       f"{X.shape[1]} features, then the target)")
        parts.append(part)
    written = np.concatenate(parts)
    if len(written) != len(X):
        raise Hint(f"the files hold {len(written):,} rows together, the data {len(X):,}: every row must be in "
                   "exactly one file (mind the remainder when the rows do not divide evenly)")
    if not np.allclose(written, np.hstack([X, y])):
        if np.allclose(written, np.hstack([y, X])):
            raise Hint("the target is in the first column: put the features first and the target last")
        raise Hint("the rows differ from the data: write the blocks in rank order (part_0 holds the first "
                   "rows) and keep full precision")


# ---------------------------------------------------------------------------------------------------
# 05 threads vs processes


@exercise_check("One rank that uses every core")
def check_whole_node_rank(result, n_cores: int | None = None, topology=None) -> None:
    """result: the job of one rank that should own every core this process owns.

    n_cores: how many cores that is (default: the cores of `topology`); topology: the CPUs this process
    owns (default: `local_topology()`), used to count the cores the rank's pin set covers, so that one
    hardware thread per core counts as the core and half the CPUs of a 2-socket node does not."""
    from clusterkit.machine.topology import local_topology

    if topology is None and n_cores is None:
        topology = local_topology()
    n_cores = n_cores or topology.n_cores
    pins = result.pinning
    if not pins:
        raise Hint("the output has no pinning table: keep I_MPI_DEBUG at 5 (the default of ck.mpirun)")
    if len(pins) != 1:
        raise Hint(f"that job ran {len(pins)} ranks: this layout is 1 rank with a thread per CPU, so n=1")
    cpus = pins[0].cpus
    if topology is not None:
        covered = len({topology.core_of(cpu) for cpu in cpus} - {None})
    else:
        covered = len(cpus)
    if covered < n_cores:
        raise Hint(f"the rank is pinned to CPUs {_cpu_list(cpus)} only ({covered} of the {n_cores} cores), so its "
                   "threads share them and the other cores idle: do not shrink the pin domain (drop "
                   "I_MPI_PIN_DOMAIN=core); by default a single rank gets the whole node")
    threads = result.value("threads", int)
    if threads < len(cpus):
        raise Hint(f"daal4py used {threads} thread(s) for the {len(cpus)} CPUs of its pin set: do not limit the "
                   "threads (no --threads 1); by default it starts one per CPU the rank may use")


def _cpu_list(cpus) -> str:
    """(0, 1, 2, 3, 8) -> '[0-3, 8]'."""
    return "[" + format_cpu_list(cpus).replace(",", ", ") + "]"


# ---------------------------------------------------------------------------------------------------
# 06 patching scikit-learn


@exercise_check("The class scikit-learn gives after patch_sklearn()")
def check_patched_class(estimator_class) -> None:
    if not isinstance(estimator_class, type):
        raise Hint(f"expected a class (KMeans itself, not KMeans() or a fitted model), got "
                   f"{type(estimator_class).__name__}")
    module = estimator_class.__module__
    if module.startswith("sklearn."):
        raise Hint(f"{estimator_class.__name__} still comes from {module}: a name imported before "
                   "patch_sklearn() keeps pointing at the stock class. Import it again after patching: "
                   "from sklearn.cluster import KMeans")
    if not module.startswith(("sklearnex.", "daal4py.")):
        raise Hint(f"{estimator_class.__name__} comes from {module}: import it from sklearn after calling "
                   "patch_sklearn()")
