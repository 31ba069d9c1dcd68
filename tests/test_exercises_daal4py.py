"""Module 02_daal4py: input validation (also through real mpirun jobs of the module's scripts), and the
exercise checks, which must accept right answers and reject typical mistakes with a specific hint."""
import json

import daal4py as d4p
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import clusterkit as ck
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.rank import artifacts
from clusterkit.rank import validation
from clusterkit.exercises import daal4py
from clusterkit.notebook.scripts import load_script
from clusterkit.rank.validation import InputError
from conftest import fails_with, job_result, pinning_table, recorded_machine

SCRIPTS = REPO_ROOT / "solutions" / "02_daal4py"


def small_image(seed=0, height=24, width=30):
    """A small RGB image with a few colour regions and noise, so k-means has something to find."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(4, 3))
    regions = (np.arange(height)[:, None] * 4 // height + np.arange(width)[None, :] * 2 // width) % 4
    noisy = base[regions] + rng.integers(-12, 13, size=(height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture
def rgb_path(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(small_image()).save(path)
    return path


# ---------------------------------------------------------------------------------------------------
# input validation, in process


def test_load_rgb_image_default_and_file(rgb_path):
    assert validation.load_rgb_image().shape == (427, 640, 3)
    loaded = validation.load_rgb_image(rgb_path)
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, small_image())


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.jpg", "no image file at"),
    (lambda tmp: (tmp / "notes.jpg").write_text("not an image") and tmp / "notes.jpg", "cannot read"),
    (lambda tmp: Image.fromarray(small_image()[..., 0]).save(tmp / "gray.png") or tmp / "gray.png",
     "grayscale image"),
    (lambda tmp: Image.fromarray(np.dstack([small_image(), np.full((24, 30), 255, np.uint8)])).save(
        tmp / "alpha.png") or tmp / "alpha.png", "alpha"),
])
def test_load_rgb_image_rejects_bad_files(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        validation.load_rgb_image(make(tmp_path))


@pytest.mark.parametrize("colours", [0, -3, 721, 2.5, True, "16"])
def test_require_colours_rejects(colours):
    with pytest.raises(InputError, match="colours"):
        validation.require_colours(colours, 720)


def test_require_colours_accepts_the_range():
    validation.require_colours(1, 720)
    validation.require_colours(720, 720)
    validation.require_colours(np.int64(16), 720)


def test_require_rows_per_rank():
    validation.require_rows_per_rank(4, 4)
    with pytest.raises(InputError, match="4 ranks share 3 rows.*at most 3 rank"):
        validation.require_rows_per_rank(3, 4)
    with pytest.raises(InputError, match="needs at least 16"):
        validation.require_rows_per_rank(40, 4, at_least=16)


def test_require_headerless_csv(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.5e-3]})
    frame.to_csv(tmp_path / "plain.csv", header=False, index=False)
    validation.require_headerless_csv(tmp_path / "plain.csv")
    frame.to_csv(tmp_path / "header.csv", index=False)
    with pytest.raises(InputError, match=r"first line of 'header.csv' is not numbers.*header=False"):
        validation.require_headerless_csv(tmp_path / "header.csv")
    pd.DataFrame(frame.to_numpy()).to_csv(tmp_path / "numbered.csv", index=False)
    with pytest.raises(InputError, match="pandas' default column names"):
        validation.require_headerless_csv(tmp_path / "numbered.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        validation.require_headerless_csv(tmp_path / "empty.csv")
    with pytest.raises(InputError, match="no CSV file"):
        validation.require_headerless_csv(tmp_path / "missing.csv")


def test_a_header_row_really_gives_wrong_numbers(tmp_path):
    """Why the CSV check exists: oneDAL reads the header as data, without an error."""
    data = np.random.default_rng(0).normal(size=(200, 3)) * [1, 10, 100] + [5, 50, 500]
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    frame.to_csv(tmp_path / "plain.csv", header=False, index=False)
    frame.to_csv(tmp_path / "header.csv", index=False)
    plain = d4p.low_order_moments().compute(str(tmp_path / "plain.csv")).mean.ravel()
    headed = d4p.low_order_moments().compute(str(tmp_path / "header.csv")).mean.ravel()
    assert np.allclose(plain, data.mean(axis=0)) and not np.allclose(headed, data.mean(axis=0))


# ---------------------------------------------------------------------------------------------------
# bad input through real jobs: a clear error from every rank, never a deadlock (MpiTimeout)


def run_quantize(tmp_path, *args, n=2):
    return ck.mpirun(SCRIPTS / "quantize.py", *args, "--out", tmp_path / "out", n=n, timeout=120,
                     echo=False, cwd=tmp_path)


@pytest.mark.mpi
@pytest.mark.parametrize("case, message", [
    ("missing", "error: no image file at 'missing.jpg'"),
    ("gray", "error: 'gray.png' is a grayscale image"),
    ("rgba", "error: 'rgba.png' has an alpha"),
    ("zero_colours", "error: asked for 0 colours"),
    ("too_many_colours", "error: asked for 721 colours, but an image of 720 pixels"),
    ("too_many_ranks", "error: 2 ranks share 720 pixels, so a rank would get only 360 but needs at least 400"),
])
def test_quantize_stops_every_rank_on_bad_input(tmp_path, case, message):
    Image.fromarray(small_image()).save(tmp_path / "rgb.png")
    Image.fromarray(small_image()[..., 0]).save(tmp_path / "gray.png")
    Image.fromarray(np.dstack([small_image(), np.zeros((24, 30), np.uint8)])).save(tmp_path / "rgba.png")
    args = {"missing": ["--image", "missing.jpg"], "gray": ["--image", "gray.png"],
            "rgba": ["--image", "rgba.png"], "zero_colours": ["--image", "rgb.png", "--colours", 0],
            "too_many_colours": ["--image", "rgb.png", "--colours", 721],
            "too_many_ranks": ["--image", "rgb.png", "--colours", 400]}[case]
    with pytest.raises(ck.MpiJobFailed) as failure:  # an MpiTimeout would mean a rank was left waiting
        run_quantize(tmp_path, *args)
    assert message in str(failure.value)
    assert "(error code 2)" in str(failure.value)


@pytest.mark.mpi
def test_linreg_files_stops_on_header_and_on_missing_partition(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 3)), rng.normal(size=100)
    for rank in range(2):
        part = pd.DataFrame(np.column_stack([X, y])[rank * 50:(rank + 1) * 50])
        part.to_csv(artifacts.partition_path(tmp_path, rank), header=False, index=False)
    with pytest.raises(ck.MpiJobFailed, match=r"no CSV file at .*part_2.csv.*3 ranks need"):
        ck.mpirun(SCRIPTS / "linreg_files.py", tmp_path, n=3, timeout=120, echo=False)
    pd.DataFrame(np.column_stack([X, y])[50:]).to_csv(artifacts.partition_path(tmp_path, 1), index=False)
    with pytest.raises(ck.MpiJobFailed, match="first line of 'part_1.csv' is '0,1,2,3': pandas' default column"):
        ck.mpirun(SCRIPTS / "linreg_files.py", tmp_path, n=2, timeout=120, echo=False)


@pytest.mark.mpi
def test_linreg_scaling_refuses_more_ranks_than_rows():
    with pytest.raises(ck.MpiJobFailed, match="2 ranks share 1 rows"):
        ck.mpirun(SCRIPTS / "linreg_scaling.py", "--total-rows", 1, "--rows-per-rank", 10, n=2,
                  timeout=120, echo=False)


@pytest.mark.mpi
def test_quantize_on_1_and_2_ranks_agree_and_passes_its_checks(tmp_path, rgb_path):
    outputs = {}
    for n in (1, 2):
        result = ck.mpirun(SCRIPTS / "quantize.py", "--image", rgb_path.name, "--colours", 5,
                           "--out", f"out_{n}", n=n, timeout=120, echo=False, cwd=tmp_path)
        assert result.app_lines()[0] == f"720 pixels on {n} rank(s), blocks of {[720 // n] * n} pixels"
        assert [pin.rank for pin in result.pinning] == list(range(n))
        daal4py.check_distributed_fit(tmp_path / f"out_{n}")
        daal4py.check_gather_and_write(tmp_path / f"out_{n}")
        outputs[n] = np.asarray(Image.open(tmp_path / f"out_{n}" / artifacts.IMAGE_FILE))
    assert np.array_equal(outputs[1], outputs[2])
    assert len(np.unique(outputs[2].reshape(-1, 3), axis=0)) <= 5


# ---------------------------------------------------------------------------------------------------
# 01: check_same_start


@pytest.fixture(scope="module")
def blobs():
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=3000, n_features=4, centers=5, cluster_std=3.0, random_state=1)
    start = d4p.kmeans_init(5, method="plusPlusDense", engine=d4p.engines_mt19937(seed=3)).compute(X).centroids
    centroids = d4p.kmeans(5, maxIterations=15, accuracyThreshold=0).compute(X, start).centroids
    return X, start, centroids


def test_same_start_accepts_the_right_model(blobs, capsys):
    from sklearn.cluster import KMeans

    X, start, centroids = blobs
    model = KMeans(5, init=start, n_init=1, max_iter=15, tol=0, algorithm="lloyd").fit(X)
    daal4py.check_same_start(model, centroids, 15)
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("change, hint", [
    ({"init": "k-means++"}, "init='k-means\\+\\+' draws its own start"),
    ({"n_init": 3}, "n_init=3"),
    ({"max_iter": 300}, "max_iter=300, but daal4py ran maxIterations=15"),
    ({"tol": 1e-4}, "tol=0.0001.*pass tol=0"),
    ({"algorithm": "elkan"}, "algorithm='elkan'"),
])
def test_same_start_rejects_typical_mistakes(blobs, change, hint):
    import warnings

    from sklearn.cluster import KMeans

    X, start, centroids = blobs
    parameters = dict(init=start, n_init=1, max_iter=15, tol=0, algorithm="lloyd") | change
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = KMeans(5, **parameters).fit(X)
    fails_with(daal4py.check_same_start, model, centroids, 15, hint=hint)


def test_same_start_rejects_other_data(blobs):
    from sklearn.cluster import KMeans

    X, start, centroids = blobs
    model = KMeans(5, init=start, n_init=1, max_iter=15, tol=0, algorithm="lloyd").fit(X[:1000])
    fails_with(daal4py.check_same_start, model, centroids, 15, hint="same X")
    fails_with(daal4py.check_same_start, KMeans(5, init=start, n_init=1), centroids, 15, hint="not fitted")


# ---------------------------------------------------------------------------------------------------
# 02: check_pixel_block, check_distributed_fit, check_gather_and_write


def right_block(n, rank, size):
    return ck.shard(n, rank, size)


@pytest.mark.parametrize("pixel_block, hint", [
    (lambda n, r, s: slice(r * (n // s), (r + 1) * (n // s)), "remainder must go somewhere"),
    (lambda n, r, s: slice(r, None, s), "deals pixels out like cards"),
    (lambda n, r, s: slice(0, n), "two ranks get the same block"),
    (lambda n, r, s: slice(r * (n // s), (r + 1) * (n // s) + 1), "overlaps the block before it"),
    (lambda n, r, s: (r * (n // s), (r + 1) * (n // s)), "return a slice"),
    (lambda n, r, s: slice(r * (n // s), n if r == s - 1 else (r + 1) * (n // s)), "differ by at most one"),
    (lambda n, r, s: slice(r * (n // s) + r, (r + 1) * (n // s) + r), "leaves a gap"),
])
def test_pixel_block_rejects_typical_mistakes(pixel_block, hint):
    fails_with(daal4py.check_pixel_block, pixel_block, hint=hint)


def test_pixel_block_accepts_the_right_split(capsys):
    daal4py.check_pixel_block(right_block)
    daal4py.check_pixel_block(load_script(SCRIPTS / "quantize.py").pixel_block)
    assert capsys.readouterr().out.count("PASS") == 2


def test_pixel_block_todo_says_so():
    def todo(n, rank, size):
        raise NotImplementedError("TODO")

    fails_with(daal4py.check_pixel_block, todo, hint="TODO is not filled in")


def fake_run(out, image_path, start, centroids, n_iterations=10, iterations=10, ranks=2, picture=None):
    """Write what quantize.py's rank 0 writes, from arrays computed here (to test the checks' hints)."""
    out.mkdir(parents=True, exist_ok=True)
    image = validation.load_rgb_image(image_path)
    np.savez(out / artifacts.PALETTE_FILE, start=start, centroids=centroids)
    run = {"image": str(image_path), "colours": len(start), "iterations": iterations, "seed": 1, "ranks": ranks,
           "shape": list(image.shape), "n_iterations": n_iterations}
    (out / artifacts.RUN_FILE).write_text(json.dumps(run))
    if picture is not None:
        Image.fromarray(picture).save(out / artifacts.IMAGE_FILE)
    return out


def lloyd(pixels, start, iterations=10):
    return d4p.kmeans(len(start), maxIterations=iterations, accuracyThreshold=0).compute(pixels, start).centroids


def quantized(pixels, centroids, shape):
    labels = d4p.kmeans(len(centroids), maxIterations=0, assignFlag=True).compute(pixels, centroids)
    return np.rint(centroids[labels.assignments.ravel()] * 255).astype(np.uint8).reshape(shape)


@pytest.fixture
def image_case(tmp_path, rgb_path):
    image = validation.load_rgb_image(rgb_path)
    pixels = image.reshape(-1, 3) / 255
    rng = np.random.default_rng(4)
    start = pixels[rng.choice(len(pixels), 5, replace=False)]  # pixels from the whole image
    return tmp_path, rgb_path, image, pixels, start


def test_distributed_fit_accepts_lloyd_from_its_start(image_case, capsys):
    tmp, path, image, pixels, start = image_case
    daal4py.check_distributed_fit(fake_run(tmp / "ok", path, start, lloyd(pixels, start)))
    assert "PASS" in capsys.readouterr().out


def test_distributed_fit_hints(image_case):
    tmp, path, image, pixels, start = image_case
    first_half = pixels[: len(pixels) // 2]
    cases = {
        "first pixels": (pixels[:5], lloyd(pixels, pixels[:5]), {}, "defaultDense"),
        "not pixels": (start + 0.001, lloyd(pixels, start + 0.001), {}, "not pixels of the image"),
        "stopped early": (start, lloyd(pixels, start, 4), {"n_iterations": 4}, "accuracyThreshold=0"),
        "kmeans not distributed": (start, lloyd(first_half, start), {}, "rank 0's block alone.*distributed=True"),
        "init not distributed": (first_half[[0, 50, 100, 200, 300]], lloyd(pixels, first_half[[0, 50, 100, 200, 300]]),
                                 {}, "kmeans_init ran on one block"),
        "wrong start passed": (start, lloyd(pixels, pixels[[1, 2, 3, 4, 6]]), {}, "init.centroids"),
    }
    for name, (case_start, centroids, extra, hint) in cases.items():
        out = fake_run(tmp / name.replace(" ", "_"), path, case_start, centroids, **extra)
        fails_with(daal4py.check_distributed_fit, out, hint=hint)
    fails_with(daal4py.check_distributed_fit, tmp / "nothing", hint="no run.json")


def test_gather_and_write_accepts_the_image_and_rejects_typical_mistakes(image_case, capsys):
    tmp, path, image, pixels, start = image_case
    centroids = lloyd(pixels, start)
    right = quantized(pixels, centroids, image.shape)
    daal4py.check_gather_and_write(fake_run(tmp / "ok", path, start, centroids, picture=right))
    assert "PASS" in capsys.readouterr().out
    half = len(pixels) // 2
    flat = right.reshape(-1, 3)
    labels = d4p.kmeans(5, maxIterations=0, assignFlag=True).compute(pixels, centroids).assignments.ravel()
    cases = {
        "no image": (None, "wrote no quantized.png"),
        "own block only": (flat[:half].reshape(12, 30, 3), "its own block only"),
        "labels": (labels.astype(np.uint8).reshape(image.shape[:2]), "write colours, not labels"),
        "0..1 scale": (np.rint(right / 255).astype(np.uint8), "multiply by 255"),
        "rank order": (np.concatenate([flat[half:], flat[:half]]).reshape(image.shape), "wrong order"),
        "other palette": (quantized(pixels, lloyd(pixels, pixels[[1, 2, 3, 4, 6]]), image.shape), "differ"),
    }
    for name, (picture, hint) in cases.items():
        out = fake_run(tmp / name.replace(" ", "_"), path, start, centroids, picture=picture)
        fails_with(daal4py.check_gather_and_write, out, hint=hint)


# ---------------------------------------------------------------------------------------------------
# 03: check_streaming_moments


def streamed_moments(chunks):
    algorithm = d4p.low_order_moments(streaming=True)
    for chunk in chunks:
        algorithm.compute(chunk)
    return algorithm.finalize()


def test_streaming_moments(capsys):
    data = np.random.default_rng(2).normal(size=(1000, 3)) * [1, 2, 3] + [0, 5, -5]
    chunks = [data[i:i + 300] for i in range(0, 1000, 300)]
    daal4py.check_streaming_moments(streamed_moments(chunks), data, 300)
    assert "PASS" in capsys.readouterr().out
    fails_with(daal4py.check_streaming_moments, streamed_moments(chunks[-1:]), data, 300,
               hint="last chunk only.*once, before the loop")
    fails_with(daal4py.check_streaming_moments, streamed_moments(chunks[:1]), data, 300, hint="first chunk only")
    fails_with(daal4py.check_streaming_moments, None, data, 300, hint="finalize")
    fails_with(daal4py.check_streaming_moments, streamed_moments(chunks + chunks[:1]), data, 300, hint="exactly once")


# ---------------------------------------------------------------------------------------------------
# 04: check_partitions


@pytest.fixture
def regression():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(101, 3))
    return X, X @ [1.0, 2.0, 3.0] + 0.5


def write_parts(folder, table, size=2, **to_csv):
    for rank in range(size):
        pd.DataFrame(table[ck.shard(len(table), rank, size)]).to_csv(artifacts.partition_path(folder, rank), **to_csv)


def test_partitions_accept_the_right_files(tmp_path, regression, capsys):
    X, y = regression
    write_parts(tmp_path, np.column_stack([X, y]), header=False, index=False)
    daal4py.check_partitions(tmp_path, X, y, 2)
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize("table, options, hint", [
    ("Xy", {"index": False}, "starts with a header row.*header=False, index=False"),
    ("Xy", {}, "starts with a header row"),
    ("Xy", {"header": False}, "pandas' index. Pass index=False"),
    ("yX", {"header": False, "index": False}, "target is in the first column"),
    ("X", {"header": False, "index": False}, "has 3 columns, expected 4"),
])
def test_partitions_reject_typical_mistakes(tmp_path, regression, table, options, hint):
    X, y = regression
    arrays = {"Xy": np.column_stack([X, y]), "yX": np.column_stack([y, X]), "X": X}
    write_parts(tmp_path, arrays[table], **options)
    fails_with(daal4py.check_partitions, tmp_path, X, y, 2, hint=hint)


def test_partitions_reject_lost_rows_and_missing_files(tmp_path, regression):
    X, y = regression
    table = np.column_stack([X, y])
    for rank in range(2):  # 101 // 2 rows each: the remainder row is lost
        pd.DataFrame(table[rank * 50:(rank + 1) * 50]).to_csv(artifacts.partition_path(tmp_path, rank), header=False,
                                                              index=False)
    fails_with(daal4py.check_partitions, tmp_path, X, y, 2, hint="100 rows together, the data 101")
    fails_with(daal4py.check_partitions, tmp_path, X, y, 3, hint="there is no part_2.csv")


# ---------------------------------------------------------------------------------------------------
# 05: check_whole_node_rank


def job_output(pins, threads, node="vm"):
    return job_result("[0] MPI startup(): Intel(R) MPI Library, Version 2021.18.1  Build 20260626 (id: b44796a)\n"
                      + pinning_table(*pins, node=node, first_pid=1000) + f"threads={threads}\n")


@pytest.mark.parametrize("pins, threads, hint", [
    (["0", "1"], 2, "ran 2 ranks.*n=1"),
    (["0"], 1, "pinned to CPUs \\[0\\] only \\(1 of the 2 cores\\).*I_MPI_PIN_DOMAIN"),
    (["0,1"], 1, "used 1 thread\\(s\\) for the 2 CPUs.*--threads 1"),
    ([], 2, "no pinning table"),
])
def test_whole_node_rank_rejects_on_a_2_core_machine(pins, threads, hint):
    fails_with(daal4py.check_whole_node_rank, job_output(pins, threads), topology=recorded_machine("epyc_avx512_2core"),
               hint=hint)


@pytest.mark.parametrize("name, owned, pin, threads", [
    ("xeon_2s28c_ht", None, "0-111", 112),            # 2 sockets x 28 cores x 2 threads
    ("xeon_2s28c_ht", None, "0-55", 56),              # one hardware thread of every core is every core
    ("laptop_8c_ht_avx2", None, "0-15", 16),
    ("epyc_avx512_2core", None, "0-1", 2),
    ("epyc_avx512_2core", {1}, "1", 1),               # a 1-core allocation: the rank owns that core
    ("xeon_2s28c_ht", set(range(8, 12)) | set(range(64, 68)), "8-11,64-67", 8),  # 4 cores of a big node
])
def test_whole_node_rank_accepts_other_machines(name, owned, pin, threads, capsys):
    daal4py.check_whole_node_rank(job_output([pin], threads, node="n01"), topology=recorded_machine(name, owned))
    assert "PASS: One rank that uses every core" in capsys.readouterr().out


@pytest.mark.parametrize("name, pin, threads, hint", [
    ("xeon_2s28c_ht", "0-27,56-83", 56, "\\[0-27, 56-83\\] only \\(28 of the 56 cores\\)"),  # socket 0 only
    ("xeon_2s28c_ht", "0,56", 2, "\\[0, 56\\] only \\(1 of the 56 cores\\)"),  # both threads of one core
    ("laptop_8c_ht_avx2", "0-15", 8, "used 8 thread\\(s\\) for the 16 CPUs"),
    ("laptop_8c_ht_avx2", "0-3,8-11", 8, "\\(4 of the 8 cores\\)"),  # rank 0's pin set of 2 ranks
])
def test_whole_node_rank_rejects_on_other_machines(name, pin, threads, hint):
    fails_with(daal4py.check_whole_node_rank, job_output([pin], threads, node="n01"), topology=recorded_machine(name),
               hint=hint)


def test_whole_node_rank_default_is_the_cores_this_process_owns(capsys):
    owned = ck.local_topology()
    pin = ",".join(str(cpu) for cpu in owned.cpu_ids)
    daal4py.check_whole_node_rank(job_output([pin], len(owned.cpus)))
    assert "PASS" in capsys.readouterr().out
    if owned.n_cores > 1:  # a rank on one core of several is not the whole node
        fails_with(daal4py.check_whole_node_rank, job_output([str(owned.cpu_ids[0])], len(owned.cpus)),
                   hint=f"\\(1 of the {owned.n_cores} cores\\)")


@pytest.mark.mpi
def test_whole_node_rank_accepts_a_real_single_rank_job(capsys):
    result = ck.mpirun(SCRIPTS / "threads_vs_ranks.py", "--repeats", 1, n=1, timeout=120, echo=False)
    daal4py.check_whole_node_rank(result)
    assert "PASS" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------
# 06: check_patched_class


def test_patched_class(capsys):
    from sklearn.cluster import KMeans
    from sklearnex.cluster import KMeans as ExtensionKMeans

    daal4py.check_patched_class(ExtensionKMeans)
    assert "PASS" in capsys.readouterr().out
    fails_with(daal4py.check_patched_class, KMeans,
               hint="imported before patch_sklearn\\(\\) keeps pointing at the stock")
    fails_with(daal4py.check_patched_class, ExtensionKMeans(), hint="expected a class")
