"""Exercise checks of module 03_horovod.

    from clusterkit.exercises.horovod import check_scaled_settings
    check_scaled_settings(my_function)

Horovod's build check and the rank environment are in `clusterkit.rank.horovod_env`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from clusterkit.exercises.checks import Hint, exercise_check


# ---------------------------------------------------------------- 01: learning rate and steps

@exercise_check("Learning rate and steps per epoch for each rank")
def check_scaled_settings(settings):
    """settings(base_lr, n_train, batch_per_rank, ranks) -> (learning_rate, steps_per_epoch)."""
    for base_lr, n_train, batch, ranks in ((0.001, 60000, 128, 1), (0.001, 60000, 128, 2),
                                           (0.001, 60000, 128, 4), (0.01, 1000, 100, 3)):
        lr, steps = settings(base_lr, n_train, batch, ranks)
        where = f"settings({base_lr}, {n_train}, {batch}, {ranks})"
        if abs(lr - base_lr / ranks) < 1e-12 and ranks > 1:
            raise Hint(f"{where} gave learning rate {lr:g}: you divided by the ranks. The gradient is averaged "
                       "over a batch `ranks` times larger, so it is less noisy: take a larger step, "
                       "base_lr * ranks, not a smaller one.")
        if abs(lr - base_lr * ranks) > 1e-12:
            raise Hint(f"{where} gave learning rate {lr:g}, expected {base_lr * ranks:g}: multiply the "
                       "single-rank learning rate by the number of ranks.")
        if not isinstance(steps, int):
            raise Hint(f"{where} gave {steps!r} steps: a number of steps is a whole number (int).")
        expected = n_train // (batch * ranks)
        if steps == n_train // batch and ranks > 1:
            raise Hint(f"{where} gave {steps} steps, as many as one rank alone would need. Every step now "
                       f"consumes batch x ranks = {batch * ranks} images: divide by the ranks too.")
        if steps == expected + 1:
            raise Hint(f"{where} gave {steps} steps (rounded up): the last step would lack a full batch on "
                       "some rank, and a rank that takes one more step than the others waits for them "
                       "forever. Round down (//).")
        if steps != expected:
            raise Hint(f"{where} gave {steps} steps, expected n_train // (batch_per_rank * ranks) = {expected}.")


# ---------------------------------------------------------------- 02: where to resume



@exercise_check("Where to resume from the checkpoints")
def check_resume_epoch(resume_epoch):
    """resume_epoch(checkpoint_names, requested_epochs, fresh_start) -> first epoch to train, or raise
    ValueError when the newest checkpoint already reaches requested_epochs (and no fresh start)."""
    cases = [([], 5, False, 0),
             (["epoch-1", "epoch-2"], 5, False, 2),
             (["epoch-9", "epoch-10", "epoch-8"], 12, False, 10),
             (["epoch-3"], 5, True, 0),
             (["epoch-3"], 3, True, 0)]
    for names, epochs, fresh, expected in cases:
        got = resume_epoch(list(names), epochs, fresh)
        where = f"resume_epoch({names}, {epochs}, fresh_start={fresh})"
        if fresh and got != 0:
            raise Hint(f"{where} gave {got}: a fresh start ignores every old checkpoint and starts at epoch 0.")
        if names == ["epoch-9", "epoch-10", "epoch-8"] and got == 9:
            raise Hint(f"{where} gave 9: you compared the names as text ('epoch-9' > 'epoch-10'). Take the "
                       "number after 'epoch-' as an int and pick the largest.")
        if got != expected:
            raise Hint(f"{where} gave {got}, expected {expected}: resume after the newest checkpoint "
                       "(its epoch number is the number of epochs already trained).")
    try:
        got = resume_epoch(["epoch-2", "epoch-3"], 3, False)
    except ValueError as error:
        if "fresh" not in str(error).lower():
            raise Hint(f"the error says {str(error)!r}; tell the learner what to do: ask for more epochs or "
                       "use the fresh-start option (mention 'fresh').")
    else:
        raise Hint(f"resume_epoch(['epoch-2', 'epoch-3'], 3, False) returned {got} instead of raising "
                   "ValueError: training from epoch 3 to epoch 3 trains nothing, silently. That is the "
                   "workshop's trap: raise ValueError saying what to do.")


# ---------------------------------------------------------------- 01, 03, 06: where the ranks run

def _cores_of_ranks(pinning, topology) -> dict[int, set]:
    """rank -> the (node, socket, core) it is pinned to, read through `topology` (one node's layout)."""
    cores = {}
    for pin in pinning:
        for cpu in pin.cpus:
            core = topology.core_of(cpu)
            if core is None:
                raise Hint(f"rank {pin.rank} is pinned to CPU {cpu}, which this process may not use (it owns CPUs "
                           f"{topology.cpu_ids}): something pinned the ranks by hand (an I_MPI_PIN_* setting in "
                           "genv?). Run with Intel MPI's default pinning.")
            cores.setdefault(pin.rank, set()).add((pin.node, *core))
    return cores


@exercise_check("Where the ranks run")
def check_rank_placement(*runs, topology=None):
    """runs: finished ck.mpirun(...) jobs (or their pinning tables) with I_MPI_DEBUG's pinning table. On each
    node, while there are at least as many cores as ranks (`topology`, default: what this process owns), the
    ranks' cores are disjoint; with more ranks than cores, they share them. Every pinned CPU must be one the
    process owns. One PASS for all the runs, so the output does not depend on how many there are."""
    from clusterkit.machine.topology import local_topology

    topology = topology or local_topology()
    if not runs:
        raise Hint("pass the job(s) to check: check_rank_placement(run) or check_rank_placement(*runs.values())")
    for run in runs:
        pinning = list(getattr(run, "pinning", run))
        if not pinning:
            raise Hint("a job printed no pinning table: keep I_MPI_DEBUG at 5 (don't pass debug=None).")
        cores = _cores_of_ranks(pinning, topology)
        for node in dict.fromkeys(pin.node for pin in pinning):
            ranks = [pin.rank for pin in pinning if pin.node == node]
            shared = [(a, b) for i, a in enumerate(ranks) for b in ranks[i + 1:] if cores[a] & cores[b]]
            if len(ranks) <= topology.n_cores and shared:
                a, b = shared[0]
                raise Hint(f"ranks {a} and {b} share a core although {node} has {topology.n_cores} cores for "
                           f"{len(ranks)} ranks: something narrowed the pinning (an I_MPI_PIN_* setting in genv?).")
            if len(ranks) > topology.n_cores and not shared:  # impossible by counting, unless the table is wrong
                raise Hint(f"{len(ranks)} ranks on {topology.n_cores} cores, yet no two share a core: the pinning "
                           "table and the topology disagree.")


# ---------------------------------------------------------------- 03: reading the pin map

@exercise_check("Ranks sharing each CPU")
def check_ranks_per_cpu(ranks_per_cpu, pinning):
    """ranks_per_cpu(pinning) -> {cpu: number of ranks pinned to it} (one node)."""
    from clusterkit.jobs.impi_debug import RankPin

    samples = {
        "one rank per core": [RankPin(0, 1, "n", (0,)), RankPin(1, 2, "n", (1,))],
        "4 ranks on 2 cores": [RankPin(r, r + 1, "n", (r % 2,)) for r in range(4)],
        "one rank on both cores": [RankPin(0, 1, "n", (0, 1))],
    }
    samples["your run"] = list(pinning)
    for name, sample in samples.items():
        expected: dict[int, int] = {}
        for pin in sample:
            for cpu in pin.cpus:
                expected[cpu] = expected.get(cpu, 0) + 1
        got = ranks_per_cpu(sample)
        if not isinstance(got, Mapping):
            raise Hint(f"for {name} you returned {type(got).__name__}; return a dict {{cpu: ranks}}.")
        got = dict(got)
        if name == "one rank on both cores" and got == {(0, 1): 1}:
            raise Hint("a rank pinned to {0,1} may run on CPU 0 and on CPU 1: count it once for each CPU in "
                       "pin.cpus, not once for the tuple.")
        if got != expected:
            raise Hint(f"for {name} you returned {got}, expected {expected}: loop over the ranks and, for "
                       "each CPU in pin.cpus, add one to that CPU's count.")


# ---------------------------------------------------------------- 04: learning-rate warm-up

@exercise_check("Linear learning-rate warm-up")
def check_warmup_lr(warmup_lr):
    """warmup_lr(epoch, single_rank_lr, ranks, warmup_epochs) -> learning rate at (fractional) epoch."""
    cases = [(0.0, 0.001, 4, 2.0), (1.0, 0.001, 4, 2.0), (2.0, 0.001, 4, 2.0), (5.0, 0.001, 4, 2.0),
             (0.5, 0.01, 2, 1.0), (3.0, 0.01, 1, 1.0)]
    for case in cases:
        epoch, lr, ranks, warmup = case
        scaled = lr * ranks
        expected = scaled if epoch >= warmup else lr * (1 + epoch * (ranks - 1) / warmup)
        got = warmup_lr(*case)
        where = f"warmup_lr{case}"
        if epoch == 0 and abs(got - scaled) < 1e-12 and ranks > 1:
            raise Hint(f"{where} gave the full scaled rate {got:g} at epoch 0: a warm-up starts at the "
                       "single-rank rate, where the fresh weights cannot be thrown too far.")
        if epoch > warmup and got > scaled * (1 + 1e-9):
            raise Hint(f"{where} gave {got:g}, above the scaled rate {scaled:g}: stop growing once the "
                       "warm-up is over (min or an if).")
        if abs(got - expected) > 1e-12:
            raise Hint(f"{where} gave {got:g}, expected {expected:g}: grow linearly from lr (epoch 0) to "
                       "lr * ranks (epoch warmup_epochs), then stay there.")


# ---------------------------------------------------------------- 05: ratios against the default

@exercise_check("Throughput ratios against the default")
def check_ratios(ratios, rates):
    """ratios(rates, baseline) -> {setting: rate / rates[baseline]}."""
    samples = [({"default": 100.0, "a": 150.0, "b": 50.0}, "default"), (dict(rates), "default")]
    for sample, baseline in samples:
        got = ratios(dict(sample), baseline)
        expected = {name: rate / sample[baseline] for name, rate in sample.items()}
        if set(got) != set(expected):
            raise Hint(f"you returned ratios for {sorted(got)}; expected one per setting, {sorted(expected)} "
                       "(including the baseline itself, 1.0).")
        inverted = {name: sample[baseline] / rate for name, rate in sample.items()}
        if all(abs(got[n] - inverted[n]) < 1e-9 for n in got) and got != expected:
            raise Hint("your ratios are upside down: for throughput (images/s), higher is better, so "
                       "divide each setting's rate by the baseline's rate.")
        if any(abs(got[n] - expected[n]) > 1e-9 for n in got):
            raise Hint(f"for {sample} you returned {got}, expected {expected}.")


# ---------------------------------------------------------------- 06: the cluster command line

@exercise_check("The mpirun command line for a cluster")
def check_cluster_command(cluster_command):
    """cluster_command(hosts, ranks_per_node, script, *args) -> argv list for mpirun."""
    argv = cluster_command(["node1", "node2"], 2, "benchmark.py", "--model", "resnet50")
    if isinstance(argv, str):
        raise Hint("return a list of arguments (like subprocess.run wants), not one string.")
    argv = [str(a) for a in argv]
    if not argv or argv[0] != "mpirun":
        raise Hint(f"the command must start with 'mpirun', got {argv[:1]}")

    def after(flag):
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None

    if after("-n") != "4":
        raise Hint(f"-n is {after('-n')}: it is the TOTAL number of ranks, nodes x ranks per node = 2 x 2 = 4.")
    if after("-ppn") != "2":
        raise Hint(f"-ppn is {after('-ppn')}: it is the number of ranks per node (2 here, one per core).")
    if after("-hosts") != "node1,node2":
        raise Hint(f"-hosts is {after('-hosts')}: the node names joined by commas, 'node1,node2'.")
    tail = ["python", "-m", "mpi4py", "benchmark.py", "--model", "resnet50"]
    if argv[-len(tail):] != tail:
        raise Hint(f"the command must end with {' '.join(tail)} (python -m mpi4py ends all ranks if one "
                   f"raises; the script's own arguments come last), got {' '.join(argv[-len(tail):])}")


# ---------------------------------------------------------------- 07: oneCCL's workers beside the ranks

# the workshop's node: 2 sockets x 28 cores (one hardware thread each), CPUs numbered socket by socket
WORKSHOP_NODE = [list(range(0, 28)), list(range(28, 56))]


def ccl_pinning_answer(socket_cpus: list[list[int]], workers: int) -> dict[str, str]:
    """The environment of a job with one rank per socket and `workers` oneCCL workers per rank, as Horovod's
    oneCCL guide lays it out: workers on the last cores of each socket, left out of Intel MPI's pinning."""
    if workers < 1 or any(len(cpus) <= workers for cpus in socket_cpus):
        raise ValueError(f"{workers} worker(s) per rank leave no core of a socket for computing")
    listed = ",".join(str(cpu) for cpus in socket_cpus for cpu in cpus[-workers:])
    return {"CCL_WORKER_COUNT": str(workers), "CCL_WORKER_AFFINITY": listed, "I_MPI_PIN_DOMAIN": "socket",
            "I_MPI_PIN_PROCESSOR_EXCLUDE_LIST": listed,
            "OMP_NUM_THREADS": str(min(len(cpus) for cpus in socket_cpus) - workers)}


@exercise_check("oneCCL's workers beside one rank per socket")
def check_ccl_pinning(ccl_pinning, this_machine: list[list[int]]):
    """ccl_pinning(socket_cpus, workers) -> {variable: value} for a job with one rank per socket; raises
    ValueError when the workers would leave a socket no core for computing."""
    cases = [(WORKSHOP_NODE, 2, "the workshop's 2 x 28-core node"), (WORKSHOP_NODE, 4, "the workshop's node"),
             (this_machine, 1, "this machine")]
    for socket_cpus, workers, where in cases:
        call = f"ccl_pinning(<{where}>, workers={workers})"
        try:
            expected = ccl_pinning_answer(socket_cpus, workers)
        except ValueError:
            try:
                got = ccl_pinning(socket_cpus, workers)
            except ValueError:
                continue
            raise Hint(f"{call} returned {got}, but a socket of {where} has only "
                       f"{min(len(c) for c in socket_cpus)} core(s): {workers} worker(s) leave no core for the "
                       "rank's own threads. Raise ValueError in that case.") from None
        got = {name: str(value) for name, value in dict(ccl_pinning(socket_cpus, workers)).items()}
        missing = [name for name in expected if name not in got]
        if missing:
            raise Hint(f"{call} sets no {', '.join(missing)}: a layout needs all of {', '.join(expected)}.")
        affinity = got["CCL_WORKER_AFFINITY"].replace(" ", "")
        excluded = got["I_MPI_PIN_PROCESSOR_EXCLUDE_LIST"].replace(" ", "")
        workers_at = [int(cpu) for cpu in affinity.split(",") if cpu]
        first_cores = ",".join(str(cpu) for cpus in socket_cpus for cpu in cpus[:workers])
        if affinity == first_cores:
            raise Hint(f"{call}: you put the workers on the FIRST cores of each socket. Give them the last "
                       "ones (as oneCCL's own `auto` mode and Horovod's guide do): the rank's threads then "
                       "keep the cores from 0 up.")
        if len(workers_at) != workers * len(socket_cpus):
            raise Hint(f"{call}: CCL_WORKER_AFFINITY lists {len(workers_at)} core(s); oneCCL wants one per "
                       f"worker of every rank on the node: {workers} x {len(socket_cpus)} rank(s).")
        if affinity != expected["CCL_WORKER_AFFINITY"]:
            raise Hint(f"{call}: CCL_WORKER_AFFINITY is {got['CCL_WORKER_AFFINITY']}, expected "
                       f"{expected['CCL_WORKER_AFFINITY']} (the last {workers} core(s) of each socket, "
                       "socket 0 first).")
        if excluded != expected["CCL_WORKER_AFFINITY"]:
            raise Hint(f"{call}: I_MPI_PIN_PROCESSOR_EXCLUDE_LIST must list exactly the workers' cores, so Intel "
                       "MPI leaves them out of the ranks' domains; otherwise the rank's threads and the workers "
                       "take turns on the same cores.")
        if got["I_MPI_PIN_DOMAIN"] != "socket":
            raise Hint(f"{call}: one rank per socket means I_MPI_PIN_DOMAIN=socket, got {got['I_MPI_PIN_DOMAIN']}.")
        if got["OMP_NUM_THREADS"] != expected["OMP_NUM_THREADS"]:
            raise Hint(f"{call}: OMP_NUM_THREADS is {got['OMP_NUM_THREADS']}, expected {expected['OMP_NUM_THREADS']}: "
                       "the rank's threads get the cores of its socket that no worker takes.")
        if got["CCL_WORKER_COUNT"] != expected["CCL_WORKER_COUNT"]:
            raise Hint(f"{call}: CCL_WORKER_COUNT is the number of workers per rank, {workers}.")


# ---------------------------------------------------------------- 08: the U-Net case study

def _score(score, truth, predicted, **kwargs) -> float:
    return float(score(np.asarray(truth, "float32"), np.asarray(predicted, "float32"), **kwargs))


@exercise_check("Dice coefficient, empty masks included")
def check_dice_coefficient(dice_coefficient):
    """dice_coefficient(y_true, y_pred) -> 2 TP / (2 TP + FP + FN) over the whole batch; 1.0 for two empty masks."""
    empty = [[0, 0], [0, 0]]
    got = _score(dice_coefficient, empty, empty)
    if math.isnan(got):
        raise Hint("two empty masks gave nan: 0 / 0. Nothing to find and nothing found is a perfect answer: add "
                   "SMOOTH to the numerator and the denominator, so that this case is 1.0.")
    if abs(got - 1.0) > 1e-6:
        raise Hint(f"two empty masks gave {got:.4f}; nothing to find and nothing found is a perfect answer, 1.0 "
                   "(add SMOOTH to the numerator and the denominator).")
    cases = [([[1, 1], [0, 0]], [[1, 1], [0, 0]], 1.0, "a perfect mask"),
             ([[1, 1], [0, 0]], [[0, 0], [0, 0]], 0.0, "a tumour, and nothing predicted"),
             ([[0, 0], [0, 0]], [[0, 1], [0, 0]], 0.0, "no tumour, and one pixel predicted"),
             ([[1, 1, 0, 0]], [[1, 0, 1, 0]], 0.5, "TP=1, FP=1, FN=1"),
             ([[1, 0]], [[0.8, 0.4]], 1.6 / 2.2, "probabilities 0.8 and 0.4 (soft Dice: TP=0.8, FP=0.4, FN=0.2)")]
    for truth, predicted, expected, what in cases:
        got = _score(dice_coefficient, truth, predicted)
        if "probabilities" in what and abs(got - 1.0) < 1e-4:   # 0.8 and 0.4 rounded: 1 and 0, a perfect mask
            raise Hint(f"{what}: you gave {got:.4f}, as if you rounded the prediction to 0/1. A loss needs the "
                       "probabilities themselves, or it has no gradient: use them as they are.")
        if abs(got - expected) > 1e-4:
            raise Hint(f"{what}: expected {expected:.4f}, you gave {got:.4f}. Dice = 2 TP / (2 TP + FP + FN).")
    batch_truth = [[[1, 0], [0, 0]], [[0, 0], [0, 0]]]     # two images: one with a tumour pixel, one empty
    batch_pred = [[[1, 0], [0, 0]], [[0, 1], [0, 0]]]
    got = _score(dice_coefficient, batch_truth, batch_pred)
    if abs(got - 2 / 3) > 1e-4:
        raise Hint(f"a batch of two images (TP=1, FP=1, FN=0 in all) gave {got:.4f}, expected 0.6667: sum the "
                   "counts over every pixel of every image, do not average per image.")


@exercise_check("Tversky index (false negatives weighted by beta)")
def check_tversky_index(tversky_index):
    """tversky_index(y_true, y_pred, alpha, beta) -> TP / (TP + alpha FP + beta FN)."""
    cases = [([[1, 1, 1, 0]], [[1, 0, 0, 0]], 0.3, 0.7, 1 / (1 + 0.7 * 2), "a missed tumour: TP=1, FN=2"),
             ([[1, 0, 0, 0]], [[1, 1, 1, 0]], 0.3, 0.7, 1 / (1 + 0.3 * 2), "false alarms: TP=1, FP=2"),
             ([[1, 1, 0, 0]], [[1, 0, 1, 0]], 0.5, 0.5, 0.5, "alpha = beta = 0.5, which is Dice"),
             ([[0, 0]], [[0, 0]], 0.3, 0.7, 1.0, "two empty masks"),
             ([[1, 0]], [[0.8, 0.4]], 0.3, 0.7, 0.8 / (0.8 + 0.3 * 0.4 + 0.7 * 0.2), "probabilities 0.8 and 0.4")]
    for truth, predicted, alpha, beta, expected, what in cases:
        got = _score(tversky_index, truth, predicted, alpha=alpha, beta=beta)
        if abs(got - expected) <= 1e-4:
            continue
        if alpha != beta and abs(_score(tversky_index, truth, predicted, alpha=beta, beta=alpha) - expected) < 1e-4:
            raise Hint(f"{what}: you gave {got:.4f}, expected {expected:.4f}: alpha and beta are swapped. alpha "
                       "weights the false positives, beta the false negatives (the missed tumour pixels).")
        raise Hint(f"{what} (alpha={alpha}, beta={beta}): expected {expected:.4f}, you gave {got:.4f}. "
                   "Tversky = TP / (TP + alpha FP + beta FN), with SMOOTH so that two empty masks give 1.0.")


@exercise_check("Learning rate, steps and warm-up of the U-Net job")
def check_unet_settings(unet_settings):
    """unet_settings(base_lr, n_train, batch_per_rank, ranks, warmup_epochs) ->
    (learning_rate, steps_per_epoch, warmup_steps)."""
    for base_lr, n_train, batch, ranks, warmup in ((0.002, 1000, 16, 1, 1.0), (0.002, 1000, 16, 2, 1.0),
                                                   (0.002, 1000, 16, 4, 2.0), (0.001, 3489, 8, 3, 0.5)):
        where = f"unet_settings({base_lr}, {n_train}, {batch}, {ranks}, {warmup})"
        lr, steps, warmup_steps = unet_settings(base_lr, n_train, batch, ranks, warmup)
        expected_steps = n_train // (batch * ranks)
        if ranks > 1 and abs(lr - base_lr / ranks) < 1e-12:
            raise Hint(f"{where} gave learning rate {lr:g}: you divided. The averaged gradient of a {ranks} times "
                       "larger batch is less noisy, so take a larger step: base_lr * ranks.")
        if abs(lr - base_lr * ranks) > 1e-12:
            raise Hint(f"{where} gave learning rate {lr:g}, expected base_lr * ranks = {base_lr * ranks:g}.")
        if steps != expected_steps:
            raise Hint(f"{where} gave {steps} steps per epoch, expected n_train // (batch_per_rank * ranks) = "
                       f"{expected_steps}: a step consumes a batch on every rank, and rounding up would leave "
                       "the last step short on some rank.")
        if warmup_steps != int(warmup * expected_steps):
            raise Hint(f"{where} gave {warmup_steps} warm-up steps, expected int(warmup_epochs * steps_per_epoch) "
                       f"= {int(warmup * expected_steps)}: the warm-up is counted in this job's steps.")
