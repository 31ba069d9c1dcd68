"""Per-rank plumbing shared by this module's training scripts: threads, data shards, the model,
the input pipeline, and ending every rank with one clear message.

Imported by train_keras.py, train_tape.py and benchmark.py, which run one process per rank under
`mpirun ... python -m mpi4py <script>.py`; this file sits beside them.
"""
from __future__ import annotations

import os
import sys

import horovod.tensorflow as hvd
import numpy as np
import tensorflow as tf

from clusterkit.rank import load_digits_dataset, shard

tf.get_logger().setLevel("ERROR")   # Keras' "callback is slow" warnings: the first batch's broadcast is meant to be

def fail_all(message: str, rank: int, status: int = 2):
    """End this rank with `message` (printed once, by rank 0). Call it on every rank with the same
    decision, so no rank is left waiting in a collective for a rank that has gone."""
    if rank == 0:
        print(f"ERROR: {message}", flush=True)
    sys.exit(status)


def cpu_operations() -> str:
    """The library that carries this job's allreduce on CPUs: HOROVOD_CPU_OPERATIONS when set (the course
    always sets it), else Horovod's own default, oneCCL whenever Horovod was built with it."""
    chosen = os.environ.get("HOROVOD_CPU_OPERATIONS")
    return chosen.upper() if chosen else ("CCL" if hvd.ccl_built() else "MPI")


def use_threads(intra: int, inter: int) -> None:
    """Threads of this rank's TensorFlow (0 = TensorFlow's default: one per core it can see).
    Must run before TensorFlow executes its first operation."""
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def load_shard(rank: int, size: int, train_limit: int | None = None):
    """This rank's block of the staged training images (scaled to 0..1, with a channel axis), and the
    data set's name and accuracy target. Every rank reads the staged file; nothing is downloaded."""
    data = load_digits_dataset()
    n_train = min(train_limit or len(data.x_train), len(data.x_train))
    if n_train < size:
        fail_all(f"{n_train} training samples cannot be split over {size} ranks: rank {size - 1} would get "
                 f"none and wait forever for the others. What to do: run with at most {n_train} ranks "
                 "(mpirun -n), or train on more samples.", rank)
    block = shard(n_train, rank, size)
    return data, n_train, to_images(data.x_train[block]), data.y_train[block].astype("int64")


def to_images(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype("float32") / 255.0)[..., np.newaxis]


def build_model(data_format: str = "channels_last", seed: int = 0) -> tf.keras.Model:
    """A small strided CNN (about 320k weights): two 3x3 convolutions with stride 2, one hidden dense
    layer. Strides instead of pooling keep it cheap enough for one CPU core per rank."""
    tf.keras.utils.set_random_seed(seed)
    shape = (28, 28, 1) if data_format == "channels_last" else (1, 28, 28)
    layers = tf.keras.layers
    return tf.keras.Sequential([
        layers.Input(shape),
        layers.Conv2D(32, 3, strides=2, activation="relu", data_format=data_format),
        layers.Conv2D(64, 3, strides=2, activation="relu", data_format=data_format),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(10),
    ])


def training_batches(images, labels, batch: int, seed: int) -> tf.data.Dataset:
    """Shuffled, repeated batches of this rank's shard. Autotuning is off: under mpirun, with one core
    per rank, tf.data's autotuner stalled the pipeline (see the course's stack notes)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch, drop_remainder=True).with_options(options))


def test_accuracy(model: tf.keras.Model, data, rank: int, size: int) -> float:
    """Accuracy on the whole test set: each rank scores its own block, then the counts are summed."""
    block = shard(len(data.x_test), rank, size)
    logits = model.predict(to_images(data.x_test[block]), batch_size=1000, verbose=0)
    correct = np.sum(np.argmax(logits, axis=1) == data.y_test[block])
    total_correct = hvd.allreduce(tf.constant(correct, tf.float64), op=hvd.Sum)
    return float(total_correct) / len(data.x_test)


def weights_in_sync(model: tf.keras.Model) -> bool:
    """True when every rank holds exactly the same weights (compares one checksum per rank)."""
    checksum = sum(float(tf.reduce_sum(tf.abs(tf.cast(v, tf.float64)))) for v in model.weights)
    gathered = hvd.allgather(tf.constant([checksum], tf.float64)).numpy()
    return bool(np.all(gathered == gathered[0]))
