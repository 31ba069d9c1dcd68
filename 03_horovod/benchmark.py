"""Training throughput (images/second) on synthetic data, in the spirit of tf_cnn_benchmarks:

    mpirun -n 2 python -m mpi4py benchmark.py --model small_cnn resnet50:16 --batch 32 128

Random images stand in for data, so the input pipeline costs nothing and only the model's
forward pass, backward pass, gradient averaging and update are measured. Rank 0 prints one line
per model and batch size: `images_per_second[model,batch]=N` summed over all ranks.
"""
import argparse
import time

import horovod.tensorflow as hvd
import numpy as np
import tensorflow as tf

from hvd_common import build_model, cpu_operations, use_threads

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--model", nargs="+", default=["small_cnn"],
                    help="small_cnn and/or resnet50, each optionally with its own batch sizes: resnet50:16,32")
parser.add_argument("--batch", nargs="+", type=int, default=[64], help="batch sizes per rank (default for every model)")
parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps first (graph building, caches)")
parser.add_argument("--image-size", type=int, default=32, help="ResNet-50's input side (224 in the paper)")
parser.add_argument("--data-format", default="channels_last", choices=["channels_last", "channels_first"])
parser.add_argument("--intra", type=int, default=1, help="intra-op threads (0: TensorFlow's default)")
parser.add_argument("--inter", type=int, default=1, help="inter-op threads (0: TensorFlow's default)")
args = parser.parse_args()

hvd.init()
rank, size = hvd.rank(), hvd.size()
use_threads(args.intra, args.inter)


def make_model(name: str) -> tf.keras.Model:
    if name == "small_cnn":
        return build_model(args.data_format)
    tf.keras.backend.set_image_data_format(args.data_format)
    side = args.image_size
    shape = (side, side, 3) if args.data_format == "channels_last" else (3, side, side)
    return tf.keras.applications.ResNet50(weights=None, input_shape=shape, classes=10)


def images_per_second(name: str, batch: int) -> float:
    """Time `steps` synchronous training steps on every rank; return the whole job's images/s."""
    model = make_model(name)
    optimizer = tf.keras.optimizers.SGD(0.01)
    loss_function = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=name == "small_cnn")
    rng = np.random.default_rng(rank)
    images = tf.constant(rng.random((batch, *model.input_shape[1:]), dtype=np.float32))
    labels = tf.constant(rng.integers(0, 10, batch))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_function(labels, model(images, training=True))
        gradients = hvd.DistributedGradientTape(tape).gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    for _ in range(args.warmup_steps):
        step()
    hvd.join()                                     # start the clock together
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    float(loss)                                    # wait for the last step to finish
    seconds = hvd.allreduce(tf.constant(time.perf_counter() - started), op=hvd.Max)
    return args.steps * batch * size / float(seconds)


if rank == 0:
    print(f"ranks={size} intra_op_threads={args.intra} inter_op_threads={args.inter} data_format={args.data_format}")
    print(f"cpu_operations={cpu_operations()}")
for spec in args.model:
    name, _, sizes = spec.partition(":")
    if name not in ("small_cnn", "resnet50"):
        parser.error(f"unknown model {name!r}: choose small_cnn or resnet50")
    for batch in [int(size) for size in sizes.split(",")] if sizes else args.batch:
        try:
            rate = images_per_second(name, batch)
        except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError) as error:
            if rank == 0:
                reason = next((line for line in error.message.splitlines() if "support" in line), error.message)
                print(f"unsupported[{name},{batch}]={reason.strip()[:160]}")
            continue
        if rank == 0:
            print(f"images_per_second[{name},{batch}]={rate:.1f}", flush=True)
