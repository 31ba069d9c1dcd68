"""Data-parallel training of a small CNN with Keras and Horovod, one process per rank:

    mpirun -n 2 python -m mpi4py train_keras.py --epochs 4

Every rank trains on its own shard; Horovod averages the gradients at each step. Only rank 0
prints, writes checkpoints and TensorBoard logs. With --ckpt-dir the run resumes from rank 0's
newest checkpoint, broadcast to every rank.
"""
import argparse
import os
import re
import shutil
import time
from pathlib import Path

import horovod.tensorflow as hvd_tf         # collectives on any Python object or variable
import horovod.tensorflow.keras as hvd      # Keras: DistributedOptimizer and callbacks
import tensorflow as tf

from hvd_common import (build_model, cpu_operations, fail_all, load_shard, test_accuracy, training_batches,
                        use_threads, weights_in_sync)

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=4, help="epochs over the whole training set")
parser.add_argument("--batch", type=int, default=128, help="batch per rank (global batch = batch x ranks)")
parser.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate for ONE rank")
parser.add_argument("--lr-scale", type=float, default=None,
                    help="multiply --lr by this (default: the number of ranks)")
parser.add_argument("--warmup-epochs", type=float, default=1.0,
                    help="ramp the learning rate up over this many epochs (0: off)")
parser.add_argument("--train-limit", type=int, default=None, help="train on the first N images only")
parser.add_argument("--ckpt-dir", default=None, help="folder for rank 0's checkpoints; resume from the newest")
parser.add_argument("--fresh-start", action="store_true",
                    help="delete old checkpoints in --ckpt-dir and start at epoch 0")
parser.add_argument("--log-dir", default=None, help="folder for TensorBoard logs (rank 0)")
parser.add_argument("--die-after-epoch", type=int, default=None,
                    help="fault drill: rank --die-rank exits after this epoch")
parser.add_argument("--die-rank", type=int, default=1)
parser.add_argument("--threads", type=int, default=1, help="intra-op threads per rank (inter-op: 1)")
args = parser.parse_args()

hvd.init()                                     # one Horovod process per MPI rank
rank, size = hvd.rank(), hvd.size()            # rank 0 is the one that prints and writes
use_threads(args.threads, 1)
data, n_train, images, labels = load_shard(rank, size, args.train_limit)

# Each rank sees a different batch, so one step consumes batch x size images: an epoch needs
# size times fewer steps. The same number on every rank, or a rank would wait for the others forever.
steps_per_epoch = n_train // (args.batch * size)
if steps_per_epoch == 0:
    fail_all(f"{n_train} images are fewer than one global batch ({args.batch} x {size} ranks). "
             "What to do: use a smaller --batch, fewer ranks or more data.", rank)
# The averaged gradient of a global batch size times larger is less noisy: take bigger steps.
lr_scale = size if args.lr_scale is None else args.lr_scale
learning_rate = args.lr * lr_scale

model = build_model()
optimizer = hvd.DistributedOptimizer(tf.keras.optimizers.Adam(learning_rate))
model.compile(optimizer=optimizer,
              loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
optimizer.build(model.trainable_variables)     # create Adam's slots now, so a checkpoint can fill them


def newest_checkpoint(folder: Path):
    """(epoch, path prefix) of the newest `epoch-NNN` checkpoint in folder, or (0, None)."""
    epochs = [int(m[1]) for f in folder.glob("epoch-*.index") if (m := re.fullmatch(r"epoch-(\d+)\.index", f.name))]
    return (max(epochs), folder / f"epoch-{max(epochs):03d}") if epochs else (0, None)


def decide_start() -> dict:
    """Rank 0 looks at its checkpoints and decides where training starts, or why it cannot."""
    if not args.ckpt_dir:
        return {"epoch": 0, "path": None}
    folder = Path(args.ckpt_dir)
    if args.fresh_start and folder.exists():
        removed = len(list(folder.glob("epoch-*.index")))
        shutil.rmtree(folder)
        print(f"fresh start: removed {removed} old checkpoint(s)")
    folder.mkdir(parents=True, exist_ok=True)
    epoch, path = newest_checkpoint(folder)
    if epoch >= args.epochs:
        return {"problem": f"the newest checkpoint is from epoch {epoch}, and --epochs is {args.epochs}: "
                           "resuming would end at once without training (the old workshop trap). What to do: "
                           f"ask for more epochs to continue (--epochs {epoch + 1} or more), or pass --fresh-start "
                           "to delete the old checkpoints and train from scratch."}
    if path is not None:
        try:
            tf.train.Checkpoint(model=model, optimizer=optimizer).read(str(path)).assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, AssertionError) as error:
            first_line = str(error).strip().splitlines()[0][:200]
            return {"problem": f"checkpoint {path.name} cannot be read ({type(error).__name__}: {first_line}). "
                               "It is corrupt or from another model. What to do: delete that checkpoint to resume "
                               "from the one before, or pass --fresh-start."}
    return {"epoch": epoch, "path": path and path.name}


# Rank 0 decides and restores; the decision and then the weights go to every rank.
start = hvd_tf.broadcast_object(decide_start() if rank == 0 else None, root_rank=0)
if "problem" in start:
    fail_all(start["problem"], rank)
# the learning rate too: a checkpoint written during the warm-up holds a rate that rank 0 alone restored
hvd_tf.broadcast_variables(model.variables + optimizer.variables + [optimizer.learning_rate], root_rank=0)
if rank == 0:
    print(f"dataset={data.name}\ncpu_operations={cpu_operations()}")
    print(f"ranks={size}\nglobal_batch={args.batch * size}\nsteps_per_epoch={steps_per_epoch}\n"
          f"learning_rate={learning_rate:g}")
    print(f"start_epoch={start['epoch']}" + (f" (resumed from {start['path']})" if start["path"] else ""))


class RankZeroLog(tf.keras.callbacks.Callback):
    """One line per epoch with the metrics, already averaged over the ranks."""

    def on_epoch_end(self, epoch, logs=None):
        lr = float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))
        print(f"epoch {epoch + 1}/{args.epochs}: loss={logs['loss']:.4f} accuracy={logs['accuracy']:.4f} "
              f"lr={lr:.5f}", flush=True)


class SaveCheckpoint(tf.keras.callbacks.Callback):
    """Rank 0 writes weights and optimizer state after each epoch (to a temporary name, then renames)."""

    def on_epoch_end(self, epoch, logs=None):
        folder = Path(args.ckpt_dir)
        written = tf.train.Checkpoint(model=self.model, optimizer=optimizer).write(str(folder / "partial"))
        for part in Path(written).parent.glob("partial.*"):
            os.replace(part, folder / part.name.replace("partial", f"epoch-{epoch + 1:03d}"))


class EpochBarrier(tf.keras.callbacks.Callback):
    """Every rank waits at the end of each epoch until all ranks (rank 0 with its checkpoint) are there."""

    def on_epoch_end(self, epoch, logs=None):
        hvd.allreduce(tf.constant(0.0), name="epoch_barrier")


class DieAfterEpoch(tf.keras.callbacks.Callback):
    """Fault drill: this rank vanishes without a word, as a crashed or killed process would."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == args.die_after_epoch:
            print(f"fault drill: rank {args.die_rank} exits abruptly after epoch {epoch + 1}", flush=True)
            os._exit(3)


callbacks = [
    hvd.callbacks.BroadcastGlobalVariablesCallback(0),   # same starting weights everywhere
    hvd.callbacks.MetricAverageCallback(),               # epoch metrics averaged over the ranks
]
if args.warmup_epochs > 0 and lr_scale > 1:
    # Warm-up (Goyal et al., 2017): start at the single-rank rate args.lr, grow linearly to
    # args.lr x lr_scale over warmup_epochs. With lr_scale = size this is exactly
    # hvd.callbacks.LearningRateWarmupCallback(learning_rate, warmup_epochs); the general form lets
    # notebook 04 scale by how much the global batch grew.
    def warmup_multiplier(epoch: float) -> float:
        return (1 + epoch * (lr_scale - 1) / args.warmup_epochs) / lr_scale

    callbacks.append(hvd.callbacks.LearningRateScheduleCallback(
        initial_lr=learning_rate, multiplier=warmup_multiplier, end_epoch=args.warmup_epochs,
        staircase=False, steps_per_epoch=steps_per_epoch, momentum_correction=False))
if rank == 0:
    callbacks.append(RankZeroLog())
    if args.ckpt_dir:
        callbacks.append(SaveCheckpoint())
    if args.log_dir:
        callbacks.append(tf.keras.callbacks.TensorBoard(args.log_dir, write_graph=False, profile_batch=0))
if args.die_after_epoch is not None:
    # the drill dies at a known point: after rank 0 has written the epoch's checkpoint
    callbacks.append(EpochBarrier())
    if rank == args.die_rank:
        callbacks.append(DieAfterEpoch())

started = time.perf_counter()
model.fit(training_batches(images, labels, args.batch, seed=rank), epochs=args.epochs, initial_epoch=start["epoch"],
          steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=0)
train_seconds = time.perf_counter() - started

accuracy = test_accuracy(model, data, rank, size)
in_sync = weights_in_sync(model)
if rank == 0:
    trained_images = (args.epochs - start["epoch"]) * steps_per_epoch * args.batch * size
    print(f"weights_in_sync={in_sync}")
    print(f"train_seconds={train_seconds:.2f}")
    print(f"images_per_second={trained_images / train_seconds:.0f}")
    print(f"test_accuracy={accuracy:.4f}")
