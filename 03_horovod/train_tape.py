"""The same data-parallel training as train_keras.py, written as a custom loop with
hvd.DistributedGradientTape: what Keras' fit() and Horovod's callbacks do, step by step.

    mpirun -n 2 python -m mpi4py train_tape.py --epochs 1
"""
import argparse
import time

import horovod.tensorflow as hvd
import tensorflow as tf

from hvd_common import (build_model, cpu_operations, fail_all, load_shard, test_accuracy, training_batches,
                        use_threads, weights_in_sync)

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--batch", type=int, default=128, help="batch per rank")
parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate for ONE rank")
parser.add_argument("--train-limit", type=int, default=None)
args = parser.parse_args()

hvd.init()
rank, size = hvd.rank(), hvd.size()
use_threads(1, 1)
data, n_train, images, labels = load_shard(rank, size, args.train_limit)
steps_per_epoch = n_train // (args.batch * size)
if steps_per_epoch == 0:
    fail_all(f"{n_train} images are fewer than one global batch ({args.batch} x {size} ranks).", rank)

model = build_model()
optimizer = tf.keras.optimizers.Adam(args.lr * size)
loss_function = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@tf.function
def train_step(batch_images, batch_labels):
    with tf.GradientTape() as tape:
        loss = loss_function(batch_labels, model(batch_images, training=True))
    tape = hvd.DistributedGradientTape(tape)        # gradient() now returns the average over all ranks
    gradients = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
    return hvd.allreduce(loss)                      # the loss averaged over the ranks, for the log


started = time.perf_counter()
batches = iter(training_batches(images, labels, args.batch, seed=rank))
for step in range(args.epochs * steps_per_epoch):
    batch_images, batch_labels = next(batches)
    loss = train_step(batch_images, batch_labels)
    if step == 0:
        # after the first step, when Adam's slots exist: everyone takes rank 0's weights and state
        hvd.broadcast_variables(model.variables + optimizer.variables, root_rank=0)
    if rank == 0 and (step + 1) % steps_per_epoch == 0:
        print(f"epoch {(step + 1) // steps_per_epoch}/{args.epochs}: loss={float(loss):.4f}", flush=True)
train_seconds = time.perf_counter() - started

accuracy = test_accuracy(model, data, rank, size)
in_sync = weights_in_sync(model)
if rank == 0:
    print(f"dataset={data.name}\ncpu_operations={cpu_operations()}")
    print(f"ranks={size}\nglobal_batch={args.batch * size}\nsteps={args.epochs * steps_per_epoch}")
    print(f"weights_in_sync={in_sync}")
    print(f"train_seconds={train_seconds:.2f}")
    print(f"test_accuracy={accuracy:.4f}")
