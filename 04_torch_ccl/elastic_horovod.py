"""Horovod elastic: the same lesson as elastic_train.py with Horovod's own elastic mode, on TensorFlow.

    horovodrun --gloo --network-interface lo -np 2 --min-np 1 --max-np 2 \\
               --host-discovery-script "sh discover_hosts.sh" python elastic_horovod.py

`hvd.elastic.run` wraps the training function: when a worker is lost, the survivors' next collective raises,
Horovod restores the state to its last `commit()` (kept in memory, no file), re-forms the ring with the hosts
the discovery script lists and that have not failed, syncs the state from rank 0 and calls the function again.
As in elastic_train.py, the batch of each step follows from the step number alone. At the end rank 0 replays
the same steps in one process, without Horovod, and prints how far the two sets of weights are apart.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import horovod.tensorflow as hvd  # noqa: E402
import tensorflow as tf  # noqa: E402

from clusterkit.rank import require_horovod  # noqa: E402

SAMPLES, FEATURES, GLOBAL_BATCH, STEPS = 512, 8, 32, 60


def synthetic_data():
    """The data set called synthetic: y = tanh(x . w) plus a little noise, from fixed seeds."""
    x = tf.random.stateless_normal([SAMPLES, FEATURES], seed=[1, 0])
    w = tf.random.stateless_normal([FEATURES, 1], seed=[2, 0])
    return x, tf.tanh(x @ w) + 0.05 * tf.random.stateless_normal([SAMPLES, 1], seed=[3, 0])


def make_model():
    """A one-hidden-layer network, the same weights on every rank and in every attempt."""
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(16, activation="tanh"), tf.keras.layers.Dense(1)])
    model.build((None, FEATURES))
    return model


def batch_of_step(step, rank, size):
    """This rank's equal share of the step's 32 samples, drawn from the step number alone."""
    chosen = tf.random.experimental.stateless_shuffle(tf.range(SAMPLES), seed=[step, 7])[:GLOBAL_BATCH]
    return chosen[rank::size]


def train_step(model, optimizer, x, y, step, rank, size, distributed=True):
    mine = batch_of_step(step, rank, size)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(tf.gather(x, mine)) - tf.gather(y, mine)) ** 2)
    if distributed:
        tape = hvd.DistributedGradientTape(tape)  # averages the gradients over the ranks
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return float(loss)


def main():
    require_horovod()
    hvd.init()
    x, y = synthetic_data()
    model = make_model()
    optimizer = tf.keras.optimizers.SGD(0.05, momentum=0.9)
    # the state Horovod commits and restores: the weights, the optimizer's (momentum too) and the step
    state = hvd.elastic.TensorFlowKerasState(model, optimizer, step=0)

    @hvd.elastic.run
    def train(state):
        while state.step < STEPS:
            loss = train_step(model, optimizer, x, y, state.step, hvd.rank(), hvd.size())
            state.step += 1
            state.commit()  # kept in memory; after a failure every survivor goes back to the last commit
            if hvd.rank() == 0:
                print(f"committed step={state.step} size={hvd.size()} loss={loss:.6f}", flush=True)

    train(state)
    if hvd.rank() == 0:
        alone, alone_optimizer = make_model(), tf.keras.optimizers.SGD(0.05, momentum=0.9)
        for step in range(STEPS):
            train_step(alone, alone_optimizer, x, y, step, 0, 1, distributed=False)
        difference = max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(model.weights, alone.weights))
        print(f"final_size={hvd.size()}")
        print(f"max_difference_from_one_process={difference:.3g}")


if __name__ == "__main__":
    main()
