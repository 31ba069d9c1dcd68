"""Stage the course's data once, then load it from every notebook and every rank.

Handwritten digits: real MNIST, downloaded once and checked against its SHA-256 where there is
internet (or taken from Keras' cache). On an offline machine the drop-in is Fashion-MNIST from
Debian's `dataset-fashion-mnist` package (same shapes, same idx format, real photographs of
clothing). Both are staged as one file, `<data>/digits.npz`, that records which data set it is.

The course setup stages it (`make setup`).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clusterkit.machine.environment import data_dir

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
STAGED_NAME = "digits.npz"


class DataNotStaged(RuntimeError):
    pass


@dataclass
class ImageDataset:
    """28x28 grey images with labels 0..9: MNIST, or Fashion-MNIST where MNIST can't be had."""

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def class_names(self) -> tuple[str, ...]:
        return FASHION_CLASSES if self.name == "Fashion-MNIST" else tuple(str(d) for d in range(10))

    @property
    def accuracy_target(self) -> float:
        """The course's test-accuracy target: 98% on MNIST, 88% on the harder Fashion-MNIST."""
        return 0.98 if self.name == "MNIST" else 0.88

    def describe(self) -> str:
        return (f"{self.name}: {len(self.x_train):,} training and {len(self.x_test):,} test images of "
                f"{self.x_train.shape[1]}x{self.x_train.shape[2]} pixels, 10 classes (from {self.source})")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Read an (optionally gzipped) idx file, MNIST's own format: magic, dimensions, then uint8 data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def downloads_allowed() -> bool:
    """False when CLUSTERKIT_OFFLINE is set (the test command sets it: no test sends a packet off this machine)."""
    return os.environ.get("CLUSTERKIT_OFFLINE", "") in ("", "0")


def _download_mnist(target: Path, timeout: float) -> bool:
    """Fetch MNIST from Keras' mirror into target; True only if it arrived and its SHA-256 matches."""
    if not downloads_allowed():
        return False
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        with urllib.request.urlopen(MNIST_URL, timeout=timeout) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        if sha256_of(partial) != MNIST_SHA256:
            print("downloaded MNIST has the wrong SHA-256; ignoring it", file=sys.stderr)
            return False
        partial.replace(target)
        return True
    except OSError:
        return False
    finally:
        partial.unlink(missing_ok=True)


def _save(path: Path, name: str, source: str, arrays: dict[str, np.ndarray]) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez(tmp, name=name, source=source, **arrays)
    os.chmod(tmp.name, 0o644)  # staged once for every user of the machine (the room's learners read it too)
    Path(tmp.name).replace(path)


def stage_digits(directory: Path | None = None, download_timeout: float = 10.0, verbose: bool = True) -> Path:
    """Stage MNIST (or the Fashion-MNIST fallback) into `<data>/digits.npz` once; return its path."""
    directory = Path(directory or data_dir())
    directory.mkdir(parents=True, exist_ok=True)
    staged = directory / STAGED_NAME
    say = print if verbose else (lambda *a, **k: None)
    if staged.exists():
        with np.load(staged) as existing:
            say(f"data: {existing['name']} already staged in {staged}")
        if staged.stat().st_uid == os.getuid() and not staged.stat().st_mode & 0o004:
            staged.chmod(0o644)  # staged before the course made it readable by every user
        return staged
    raw = directory / "mnist.npz"
    if not raw.exists() and KERAS_CACHE.exists() and sha256_of(KERAS_CACHE) == MNIST_SHA256:
        shutil.copy(KERAS_CACHE, raw)
    if raw.exists() or _download_mnist(raw, download_timeout):
        with np.load(raw) as mnist:
            _save(staged, "MNIST", f"{MNIST_URL} (sha256 {MNIST_SHA256[:12]}...)",
                  {key: mnist[key] for key in FASHION_FILES})
        say(f"data: staged real MNIST into {staged}")
        return staged
    if all((FASHION_DIR / name).exists() for name in FASHION_FILES.values()):
        arrays = {key: read_idx(FASHION_DIR / name) for key, name in FASHION_FILES.items()}
        _save(staged, "Fashion-MNIST", f"Debian package dataset-fashion-mnist ({FASHION_DIR})", arrays)
        why = ("downloads are off (CLUSTERKIT_OFFLINE)" if not downloads_allowed()
               else "MNIST could not be downloaded (offline?)")
        say(f"data: {why}; staged Fashion-MNIST into {staged}")
        return staged
    raise DataNotStaged(
        "Neither MNIST (no internet to download it) nor the offline fallback Fashion-MNIST "
        f"({FASHION_DIR}) is available.\nWhat to do: connect to the internet, or install the fallback "
        "with `sudo apt-get install dataset-fashion-mnist`, then run `make setup` again."
    )


def load_digits_dataset(directory: Path | None = None) -> ImageDataset:
    """Load the staged digits data set; a clear error says how to stage it when it is missing."""
    staged = Path(directory or data_dir()) / STAGED_NAME
    if not staged.exists():
        raise DataNotStaged(f"No staged data at {staged}. What to do: run `make setup` in the course "
                            "folder once.")
    with np.load(staged) as saved:
        return ImageDataset(name=str(saved["name"]), source=str(saved["source"]),
                            **{key: saved[key] for key in FASHION_FILES})


def shard(n_items: int, rank: int, size: int) -> slice:
    """The contiguous block of `n_items` that `rank` of `size` owns (sizes differ by at most one)."""
    if not 0 <= rank < size:
        raise ValueError(f"rank {rank} is outside 0..{size - 1}")
    base, extra = divmod(n_items, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def sample_image(name: str = "china.jpg") -> np.ndarray:
    """One of the photographs that scikit-learn ships ('china.jpg' or 'flower.jpg'), as uint8 RGB."""
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def main() -> int:
    """Stage the data for the course setup: 0 when staged, else the reason and 1."""
    try:
        stage_digits()
    except DataNotStaged as problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
