"""Data-parallel training of the case study's U-Net with Horovod, one process per rank:

    mpirun -n 2 python -m mpi4py train_unet.py phantom.npz --channels ct+pet --loss dice --epochs 10

Every rank trains on its own block of the slices; Horovod averages the gradients at each step. The
learning rate is scaled by the ranks after a warm-up. Rank 0 prints `key=value` lines and, after every
epoch, checkpoints the model and appends to a CSV log in --out-dir. Bad input stops every rank with one
message before any collective.
"""
import argparse
import time
from pathlib import Path

import horovod.tensorflow as hvd_tf
import horovod.tensorflow.keras as hvd
import numpy as np
import tensorflow as tf

from hvd_common import cpu_operations, fail_all, training_batches, use_threads, weights_in_sync
from segmentation import LOSSES, build_unet, dice_coefficient, jaccard_index

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("data", help="the .npz written by phantom.py (x_train, y_train, x_val, y_val, channels)")
parser.add_argument("--channels", default="ct+pet", help="input channels, joined by '+': ct, pet or ct+pet")
parser.add_argument("--loss", choices=sorted(LOSSES), default="dice")
parser.add_argument("--attention", action="store_true", help="the attention-gated U-Net (Oktay et al. 2018)")
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--batch", type=int, default=16, help="slices per rank and step")
parser.add_argument("--lr", type=float, default=0.002, help="Adam's learning rate for ONE rank")
parser.add_argument("--warmup-epochs", type=float, default=1.0, help="grow the rate to lr x ranks over these")
parser.add_argument("--train-limit", type=int, default=None, help="train on the first N slices only")
parser.add_argument("--out-dir", default=None, help="rank 0 writes unet.keras and log.csv here")
parser.add_argument("--resume", action="store_true", help="start from the model in --out-dir")
parser.add_argument("--threads", type=int, default=1, help="intra-op threads per rank (inter-op: 1)")
args = parser.parse_args()

hvd.init()
rank, size = hvd.rank(), hvd.size()
use_threads(args.threads, 1)


def input_problem(data) -> str | None:
    """Why this job cannot train, or None. Every rank reaches the same answer from the same file and
    arguments, so all of them stop together and none waits in a collective for a rank that has gone."""
    names = [str(name) for name in data["channels"]]
    wanted = args.channels.split("+")
    if unknown := [name for name in wanted if name not in names]:
        return f"--channels {args.channels}: the data has no channel {unknown[0]!r} (it has {'+'.join(names)})."
    for part in ("train", "val"):
        images, masks = data[f"x_{part}"], data[f"y_{part}"]
        if images.ndim != 4 or images.shape[-1] != len(names):
            return f"x_{part} has shape {images.shape}: expected (slices, height, width, {len(names)} channels)."
        if masks.shape != images.shape[:3] + (1,):
            return (f"y_{part} has shape {masks.shape} but x_{part} has {images.shape}: every mask must be its "
                    f"slice's height x width, with one channel ({images.shape[:3] + (1,)}). What to do: write "
                    "the masks at the images' resolution (phantom.py does).")
    n_train = min(args.train_limit or len(data["x_train"]), len(data["x_train"]))
    if n_train // size < args.batch:
        return (f"{n_train} training slices over {size} ranks give rank {size - 1} a shard of {n_train // size}, "
                f"less than one batch of {args.batch}: that rank would have nothing to train on. What to do: "
                "use more slices, fewer ranks (mpirun -n) or a smaller --batch.")
    if args.resume:
        saved = Path(args.out_dir or ".") / "unet.keras"
        if not saved.exists():
            return f"--resume: there is no {saved}. What to do: train once without --resume."
        built_for = tf.keras.models.load_model(saved, compile=False).input_shape[-1]
        if built_for != len(wanted):
            return (f"--resume: {saved} was built for {built_for} input channel(s), and --channels {args.channels} "
                    f"gives {len(wanted)}. What to do: resume with the channels it was trained on, or train a new "
                    "model without --resume.")
    return None


data = np.load(args.data)
if problem := input_problem(data):
    fail_all(problem, rank)
channels = [[str(name) for name in data["channels"]].index(name) for name in args.channels.split("+")]
n_train = min(args.train_limit or len(data["x_train"]), len(data["x_train"]))
train_block = np.array_split(np.arange(n_train), size)[rank]
val_block = np.array_split(np.arange(len(data["x_val"])), size)[rank]
images = data["x_train"][train_block][..., channels]
masks = data["y_train"][train_block].astype("float32")

# one step consumes batch x size slices, so an epoch takes size times fewer steps; the averaged gradient
# of that larger batch is less noisy, so the step grows with the ranks (after a warm-up)
steps_per_epoch = n_train // (args.batch * size)
learning_rate = args.lr * size
if args.resume:
    model = tf.keras.models.load_model(Path(args.out_dir) / "unet.keras", compile=False)
else:
    model = build_unet(len(channels), size=images.shape[1], attention=args.attention)
optimizer = hvd.DistributedOptimizer(tf.keras.optimizers.Adam(learning_rate))
model.compile(optimizer=optimizer, loss=LOSSES[args.loss])
if rank == 0:
    print(f"cpu_operations={cpu_operations()}\nranks={size}\nmodel={model.name}\nweights={model.count_params()}\n"
          f"channels={args.channels}\nloss={args.loss}\ntrain_slices={n_train}\nglobal_batch={args.batch * size}\n"
          f"steps_per_epoch={steps_per_epoch}\nlearning_rate={learning_rate:g}\n"
          f"warmup_steps={int(args.warmup_epochs * steps_per_epoch)}", flush=True)


class EpochClock(tf.keras.callbacks.Callback):
    """Seconds of each epoch; rank 0 prints one line per epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)
        if rank == 0:
            rate = float(tf.keras.backend.get_value(self.model.optimizer.learning_rate))
            print(f"epoch {epoch + 1}/{args.epochs}: loss={logs['loss']:.4f} lr={rate:.5f} "
                  f"seconds={self.seconds[-1]:.2f}", flush=True)


class AverageBatchNormStatistics(tf.keras.callbacks.Callback):
    """Batch norm's running mean and variance are not gradients: Horovod does not average them, and each
    rank's drift towards its own shard. Averaging them after each epoch gives every rank (and the model
    rank 0 saves) the statistics of the whole training set."""

    def on_epoch_end(self, epoch, logs=None):
        for variable in self.model.non_trainable_variables:
            variable.assign(hvd_tf.allreduce(variable, op=hvd_tf.Average, name=f"bn_{variable.name}"))


clock = EpochClock()
callbacks = [hvd.callbacks.BroadcastGlobalVariablesCallback(0),   # same starting weights everywhere
             hvd.callbacks.MetricAverageCallback(),                # the loss averaged over the ranks
             AverageBatchNormStatistics(), clock]
if size > 1 and args.warmup_epochs > 0:
    callbacks.append(hvd.callbacks.LearningRateWarmupCallback(
        learning_rate, warmup_epochs=args.warmup_epochs, steps_per_epoch=steps_per_epoch))
if rank == 0 and args.out_dir:   # after the averaging above: the checkpoint holds the whole set's statistics
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    callbacks += [tf.keras.callbacks.ModelCheckpoint(str(Path(args.out_dir) / "unet.keras")),
                  tf.keras.callbacks.CSVLogger(str(Path(args.out_dir) / "log.csv"))]
model.fit(training_batches(images, masks, args.batch, seed=rank), epochs=args.epochs,
          steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=0)

# validation: each rank predicts its block of slices; rank 0 scores the whole set, gathered in slice order
predicted = model.predict(data["x_val"][val_block][..., channels], batch_size=100, verbose=0) > 0.5
predicted = hvd_tf.allgather(tf.constant(predicted, tf.uint8)).numpy()
in_sync = weights_in_sync(model)
if rank == 0:
    truth = data["y_val"]
    false_negative, tumour = np.sum(truth * (1 - predicted)), np.sum(truth)
    print(f"weights_in_sync={in_sync}")
    # the first epoch also builds the graph: the median of the others
    print(f"epoch_seconds={np.median(clock.seconds[1:] or clock.seconds):.2f}")
    print(f"dice[{args.channels}]={float(dice_coefficient(truth, predicted)):.4f}")
    print(f"jaccard={float(jaccard_index(truth, predicted)):.4f}")
    print(f"missed_tumour_pixels={false_negative / tumour:.4f}")
    print(f"false_alarm_pixels={np.sum((1 - truth) * predicted) / tumour:.4f}")
