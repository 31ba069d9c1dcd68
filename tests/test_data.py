import gzip
import struct

import numpy as np
import pytest

import clusterkit.rank.data as data
from clusterkit.rank.data import DataNotStaged, load_digits_dataset, read_idx, shard, stage_digits


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    folder = tmp_path / "fashion"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for key, name in data.FASHION_FILES.items():
        count = 6 if "train" in key else 3
        write_idx(folder / name, rng.integers(0, 255, (count, 28, 28)) if key.startswith("x") else np.arange(count))
    monkeypatch.setattr(data, "FASHION_DIR", folder)
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "no-cache.npz")
    monkeypatch.setattr(data, "_download_mnist", lambda target, timeout: False)
    return folder


def test_read_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", images)
    assert np.array_equal(read_idx(tmp_path / "x.gz"), images)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "bad")


def test_offline_stages_fashion_mnist_and_says_so(tmp_path, fake_fashion, capsys):
    staged = stage_digits(tmp_path / "data")
    assert "staged Fashion-MNIST" in capsys.readouterr().out
    dataset = load_digits_dataset(staged.parent)
    assert dataset.name == "Fashion-MNIST" and dataset.x_train.shape == (6, 28, 28)
    assert dataset.class_names[9] == "Ankle boot" and dataset.accuracy_target == 0.88
    assert "dataset-fashion-mnist" in dataset.source
    stage_digits(tmp_path / "data")  # idempotent: second call only reports
    assert "already staged" in capsys.readouterr().out


def test_downloaded_mnist_is_preferred(tmp_path, fake_fashion):
    folder = tmp_path / "data"
    folder.mkdir()
    arrays = {key: np.zeros((2, 28, 28) if key.startswith("x") else (2,), np.uint8) for key in data.FASHION_FILES}
    np.savez(folder / "mnist.npz", **arrays)
    dataset = load_digits_dataset(stage_digits(folder, verbose=False).parent)
    assert dataset.name == "MNIST" and dataset.accuracy_target == 0.98 and dataset.class_names[3] == "3"


def test_download_with_wrong_checksum_is_rejected(tmp_path, monkeypatch):
    import io

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"not mnist"))
    monkeypatch.delenv("CLUSTERKIT_OFFLINE", raising=False)
    assert data._download_mnist(tmp_path / "mnist.npz", 1) is False
    assert not (tmp_path / "mnist.npz").exists()
    assert list(tmp_path.iterdir()) == []


def test_nothing_available_says_what_to_install(tmp_path, fake_fashion, monkeypatch):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "absent")
    with pytest.raises(DataNotStaged, match="apt-get install dataset-fashion-mnist"):
        stage_digits(tmp_path / "data")
    with pytest.raises(DataNotStaged, match="make setup"):
        load_digits_dataset(tmp_path / "data")


def test_course_data_is_staged():
    dataset = load_digits_dataset()
    assert dataset.name in ("MNIST", "Fashion-MNIST")
    assert dataset.x_train.shape == (60000, 28, 28) and dataset.x_test.shape == (10000, 28, 28)
    assert sorted(np.unique(dataset.y_test)) == list(range(10))


@pytest.mark.parametrize("n_items,size", [(10, 3), (3, 3), (2, 4), (1000, 7), (0, 2)])
def test_shard_covers_everything_once_and_balanced(n_items, size):
    slices = [shard(n_items, rank, size) for rank in range(size)]
    owned = [i for s in slices for i in range(n_items)[s]]
    assert owned == list(range(n_items))
    lengths = [s.stop - s.start for s in slices]
    assert max(lengths) - min(lengths) <= 1


def test_shard_rejects_bad_rank():
    with pytest.raises(ValueError):
        shard(10, 3, 3)


def test_sample_image_is_rgb():
    image = data.sample_image("china.jpg")
    assert image.shape == (427, 640, 3) and image.dtype == np.uint8


def test_offline_switch_never_opens_a_connection(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a download was attempted although CLUSTERKIT_OFFLINE is set")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    monkeypatch.setenv("CLUSTERKIT_OFFLINE", "1")
    assert not data.downloads_allowed()
    assert data._download_mnist(tmp_path / "mnist.npz", 1) is False
