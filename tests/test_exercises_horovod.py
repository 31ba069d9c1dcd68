"""Module 03_horovod: the checks reject the typical wrong answers with a specific hint, the Horovod
build check names what is missing, and real faults (a rank dying, too many ranks, a corrupt or stale
checkpoint) end the job with a clear message instead of hanging."""
import importlib
import re
import types

import pytest

import clusterkit as ck
from clusterkit.machine.environment import REPO_ROOT
from clusterkit.rank import horovod_env
from clusterkit.notebook import tables
from clusterkit.exercises import horovod
from clusterkit.jobs.impi_debug import RankPin
from conftest import fails_with, recorded_job, recorded_machine

SCRIPTS = REPO_ROOT / "solutions" / "03_horovod"


@pytest.fixture
def passes(capsys):
    def run(check, *args):
        check(*args)
        assert capsys.readouterr().out == f"PASS: {check.title}\n"
    return run


# ------------------------------------------------------------ learning rate and steps

def test_scaled_settings_right_answer_passes(passes):
    passes(horovod.check_scaled_settings, lambda lr, n, b, r: (lr * r, n // (b * r)))


@pytest.mark.parametrize("wrong, hint", [
    (lambda lr, n, b, r: (lr, n // (b * r)), "multiply the single-rank learning rate"),
    (lambda lr, n, b, r: (lr / r, n // (b * r)), "you divided by the ranks"),
    (lambda lr, n, b, r: (lr * r, n // b), "divide by the ranks too"),
    (lambda lr, n, b, r: (lr * r, -(-n // (b * r))), "Round down"),
    (lambda lr, n, b, r: (lr * r, n / (b * r)), "whole number"),
])
def test_scaled_settings_typical_mistakes(wrong, hint):
    fails_with(horovod.check_scaled_settings, wrong, hint=hint)


# ------------------------------------------------------------ where to resume

def resume_right(names, epochs, fresh):
    if fresh or not names:
        return 0
    newest = max(int(name.split("-")[1]) for name in names)
    if newest >= epochs:
        raise ValueError(f"checkpoint at epoch {newest} >= {epochs}: ask for more epochs or use fresh_start")
    return newest


def test_resume_right_answer_passes(passes):
    passes(horovod.check_resume_epoch, resume_right)


def test_resume_typical_mistakes():
    def as_text(names, epochs, fresh):
        return 0 if fresh or not names else int(max(names).split("-")[1])

    def silent_trap(names, epochs, fresh):
        return 0 if fresh or not names else max(int(n.split("-")[1]) for n in names)

    def ignores_fresh(names, epochs, fresh):
        return max((int(name.split("-")[1]) for name in names), default=0)

    def vague_error(names, epochs, fresh):
        try:
            return resume_right(names, epochs, fresh)
        except ValueError:
            raise ValueError("bad checkpoint") from None

    fails_with(horovod.check_resume_epoch, as_text, hint="compared the names as text")
    fails_with(horovod.check_resume_epoch, silent_trap, hint="workshop's trap")
    fails_with(horovod.check_resume_epoch, ignores_fresh, hint="fresh start ignores every old checkpoint")
    fails_with(horovod.check_resume_epoch, vague_error, hint="mention 'fresh'")


# ------------------------------------------------------------ ranks per CPU

OVERSUBSCRIBED = [RankPin(r, 100 + r, "vm", (r % 2,)) for r in range(4)]


def per_cpu_right(pinning):
    counts = {}
    for pin in pinning:
        for cpu in pin.cpus:
            counts[cpu] = counts.get(cpu, 0) + 1
    return counts


def test_ranks_per_cpu_right_answer_passes(passes):
    passes(horovod.check_ranks_per_cpu, per_cpu_right, OVERSUBSCRIBED)


def test_ranks_per_cpu_typical_mistakes():
    def per_tuple(pinning):
        counts = {}
        for pin in pinning:
            key = pin.cpus[0] if len(pin.cpus) == 1 else pin.cpus
            counts[key] = counts.get(key, 0) + 1
        return counts

    fails_with(horovod.check_ranks_per_cpu, per_tuple, OVERSUBSCRIBED, hint="count it once for each CPU")
    fails_with(horovod.check_ranks_per_cpu, lambda p: [1, 1], OVERSUBSCRIBED, hint="return a dict")
    fails_with(horovod.check_ranks_per_cpu, lambda p: {pin.rank: 1 for pin in p}, OVERSUBSCRIBED, hint="expected")


def test_ranks_per_cpu_check_with_runs_of_other_machines(passes):
    passes(horovod.check_ranks_per_cpu, per_cpu_right, recorded_job("one_core_allocation.2ranks").pinning)
    passes(horovod.check_ranks_per_cpu, per_cpu_right, recorded_job("laptop_8c_ht_avx2.2ranks").pinning)


# ------------------------------------------------------------ where the ranks run (any machine)

@pytest.mark.parametrize("job, machine, owned", [
    ("xeon_2s28c_ht.4ranks", "xeon_2s28c_ht", None),             # 4 ranks, 56 cores: a quarter of the node each
    ("laptop_8c_ht_avx2.2ranks", "laptop_8c_ht_avx2", None),     # 2 ranks, 8 cores with hyper-threads
    ("epyc_avx512_2core.2ranks", "epyc_avx512_2core", None),     # one core each
    ("epyc_avx512_2core.4ranks", "epyc_avx512_2core", None),     # oversubscribed: 2 ranks per core
    ("one_core_allocation.2ranks", "epyc_avx512_2core", {1}),    # a 1-core allocation: both ranks share it
])
def test_rank_placement_holds_on_other_machines(capsys, job, machine, owned):
    horovod.check_rank_placement(recorded_job(job), topology=recorded_machine(machine, owned))
    assert capsys.readouterr().out == "PASS: Where the ranks run\n"


def test_rank_placement_accepts_pinning_tables_and_this_machine(passes):
    whole = [RankPin(0, 1, "n", tuple(ck.local_topology().cpu_ids))]
    shared = [RankPin(r, r + 1, "n", (ck.local_topology().cpu_ids[0],)) for r in range(2 * ck.local_topology().n_cores)]
    passes(horovod.check_rank_placement, whole, shared)   # one PASS for several runs


def test_rank_placement_checks_every_run_with_one_pass(capsys):
    two_cores = recorded_machine("epyc_avx512_2core")
    runs = [recorded_job("epyc_avx512_2core.2ranks"), recorded_job("epyc_avx512_2core.4ranks")]
    horovod.check_rank_placement(*runs, topology=two_cores)
    assert capsys.readouterr().out == "PASS: Where the ranks run\n"
    crowded = [RankPin(0, 1, "vm", (0,)), RankPin(1, 2, "vm", (0,))]
    fails_with(lambda: horovod.check_rank_placement(*runs, crowded, topology=two_cores), hint="share a core although")


def test_rank_placement_refuses_wrong_tables():
    two_cores = recorded_machine("epyc_avx512_2core")
    crowded = [RankPin(0, 1, "vm", (0,)), RankPin(1, 2, "vm", (0,))]
    fails_with(lambda: horovod.check_rank_placement(crowded, topology=two_cores),
               hint="ranks 0 and 1 share a core although")
    xeon_hyperthreads = [RankPin(0, 1, "x", (0,)), RankPin(1, 2, "x", (56,))]   # CPU 56 is core 0's twin
    fails_with(lambda: horovod.check_rank_placement(xeon_hyperthreads, topology=recorded_machine("xeon_2s28c_ht")),
               hint="share a core")
    one_core = recorded_machine("epyc_avx512_2core", {1})
    fails_with(lambda: horovod.check_rank_placement(recorded_job("epyc_avx512_2core.2ranks"), topology=one_core),
               hint="CPU 0, which this process may not use")
    fails_with(lambda: horovod.check_rank_placement([], topology=two_cores), hint="no pinning table")
    fails_with(horovod.check_rank_placement, hint="pass the job")


# ------------------------------------------------------------ warm-up

def test_warmup_right_answer_passes(passes):
    passes(horovod.check_warmup_lr, lambda e, lr, r, w: lr * (1 + min(e, w) * (r - 1) / w))


@pytest.mark.parametrize("wrong, hint", [
    (lambda e, lr, r, w: lr * r, "single-rank rate"),
    (lambda e, lr, r, w: lr * (1 + e * (r - 1) / w), "stop growing"),
    (lambda e, lr, r, w: lr * (1 + min(e, w) * r / w), "expected"),
])
def test_warmup_typical_mistakes(wrong, hint):
    fails_with(horovod.check_warmup_lr, wrong, hint=hint)


# ------------------------------------------------------------ ratios

RATES = {"default": 1000.0, "one thread": 1200.0}


def test_ratios_right_answer_passes(passes):
    passes(horovod.check_ratios, lambda rates, base: {n: r / rates[base] for n, r in rates.items()}, RATES)


def test_ratios_typical_mistakes():
    fails_with(horovod.check_ratios, lambda rates, base: {n: rates[base] / r for n, r in rates.items()}, RATES,
               hint="upside down")
    fails_with(horovod.check_ratios, lambda rates, base: {n: r / rates[base] for n, r in rates.items() if n != base},
               RATES, hint="including the baseline")


# ------------------------------------------------------------ cluster command

def command_right(hosts, ppn, script, *args):
    return ["mpirun", "-n", len(hosts) * ppn, "-ppn", ppn, "-hosts", ",".join(hosts),
            "python", "-m", "mpi4py", script, *args]


def test_cluster_command_right_answer_passes(passes):
    passes(horovod.check_cluster_command, command_right)


@pytest.mark.parametrize("mutate, hint", [
    (lambda argv: " ".join(map(str, argv)), "not one string"),
    (lambda argv: argv[:2] + [2] + argv[3:], "TOTAL number of ranks"),
    (lambda argv: argv[:6] + ["node1 node2"] + argv[7:], "joined by commas"),
    (lambda argv: argv[:7] + ["python"] + argv[10:], "python -m mpi4py"),
])
def test_cluster_command_typical_mistakes(mutate, hint):
    fails_with(horovod.check_cluster_command, lambda *a: mutate(command_right(*a)), hint=hint)


# ------------------------------------------------------------ 07: oneCCL's workers beside the ranks

def ccl_right(socket_cpus, workers):
    return horovod.ccl_pinning_answer(socket_cpus, workers)


@pytest.mark.parametrize("machine", [[[0, 1]], [[0]], [[0, 2, 4, 6], [1, 3, 5, 7]], [list(range(8))]])
def test_ccl_pinning_right_answer_passes_on_any_machine(passes, machine):
    passes(horovod.check_ccl_pinning, ccl_right, machine)


def test_ccl_pinning_answer_of_the_workshop_node():
    assert horovod.ccl_pinning_answer(horovod.WORKSHOP_NODE, 2) == {
        "CCL_WORKER_COUNT": "2", "CCL_WORKER_AFFINITY": "26,27,54,55", "I_MPI_PIN_DOMAIN": "socket",
        "I_MPI_PIN_PROCESSOR_EXCLUDE_LIST": "26,27,54,55", "OMP_NUM_THREADS": "26"}


def first_cores(cpus, workers):
    listed = ",".join(str(c) for socket in cpus for c in socket[:workers])
    return {**ccl_right(cpus, workers), "CCL_WORKER_AFFINITY": listed, "I_MPI_PIN_PROCESSOR_EXCLUDE_LIST": listed}


def no_value_error(cpus, workers):
    listed = ",".join(str(c) for socket in cpus for c in socket[-workers:])
    return {"CCL_WORKER_COUNT": workers, "CCL_WORKER_AFFINITY": listed, "I_MPI_PIN_DOMAIN": "socket",
            "I_MPI_PIN_PROCESSOR_EXCLUDE_LIST": listed, "OMP_NUM_THREADS": len(cpus[0]) - workers}


@pytest.mark.parametrize("answer, machine, hint", [
    (first_cores, [[0, 1]], "FIRST cores"),
    (lambda c, w: {**ccl_right(c, w), "I_MPI_PIN_PROCESSOR_EXCLUDE_LIST": ""}, [[0, 1]], "leaves them out"),
    (lambda c, w: {**ccl_right(c, w), "OMP_NUM_THREADS": len(c[0])}, [[0, 1]], "OMP_NUM_THREADS is 28"),
    (lambda c, w: {**ccl_right(c, w), "CCL_WORKER_AFFINITY": "26,27"}, [[0, 1]], "lists 2 core"),
    (lambda c, w: {k: v for k, v in ccl_right(c, w).items() if k != "I_MPI_PIN_DOMAIN"}, [[0, 1]], "sets no"),
    (no_value_error, [[0]], "Raise ValueError"),
])
def test_ccl_pinning_typical_mistakes(answer, machine, hint):
    fails_with(horovod.check_ccl_pinning, answer, machine, hint=hint)


# ------------------------------------------------------------ Horovod build check

def fake_import(monkeypatch, broken=None, mpi=True, ccl=True):
    real = importlib.import_module

    def importer(name, *args):
        if name == broken:
            raise ImportError(f"No module named '{name}'")
        if name == "horovod.tensorflow":
            return types.SimpleNamespace(mpi_built=lambda: mpi, gloo_built=lambda: True, ccl_built=lambda: ccl)
        return real(name, *args)

    monkeypatch.setattr(horovod_env.importlib, "import_module", importer)


def test_build_check_accepts_tensorflow_and_mpi(monkeypatch):
    fake_import(monkeypatch)
    assert horovod_env.horovod_build_problems() == []


@pytest.mark.parametrize("broken, mpi, named", [
    ("tensorflow", True, "TensorFlow cannot be imported"),
    ("horovod.tensorflow", True, "without TensorFlow support"),
    (None, False, "built without MPI"),
])
def test_build_check_names_what_is_missing(monkeypatch, broken, mpi, named):
    fake_import(monkeypatch, broken=broken, mpi=mpi)
    assert any(named in problem for problem in horovod_env.horovod_build_problems())
    with pytest.raises(horovod_env.HorovodBuildError, match="What to do: run the course setup"):
        horovod_env.require_horovod()


def test_real_horovod_is_fit_for_the_course(capsys):
    assert re.match(r"Horovod 0\.28\.1 for TensorFlow 2\.15\.\d+, built with MPI", horovod_env.require_horovod())


def test_without_oneccl_the_reason_the_setup_recorded_is_said(monkeypatch, tmp_path):
    fake_import(monkeypatch, ccl=False)
    recorded = tmp_path / ".oneccl-unavailable"
    monkeypatch.setattr(horovod_env, "CCL_UNAVAILABLE_FILE", recorded)
    assert "reason unknown" in horovod_env.ccl_unavailable_reason()
    recorded.write_text("oneCCL's CPU library is built for x86_64 only; this machine is aarch64\n")
    reason = horovod_env.ccl_unavailable_reason()
    assert reason.startswith("this Horovod was built without oneCCL (oneCCL's CPU library is built for x86_64")
    fake_import(monkeypatch, ccl=True)
    assert horovod_env.ccl_unavailable_reason() is None


def test_oneccl_is_built_or_the_setup_said_why():
    """The setup builds Horovod with oneCCL; where it cannot, it records why and the course goes on."""
    reason = horovod_env.ccl_unavailable_reason()
    assert reason is None or horovod_env.CCL_UNAVAILABLE_FILE.exists(), reason


@pytest.mark.mpi
def test_gloo_launcher_runs_ranks_on_loopback_and_parses_prefixed_lines(tmp_path):
    script = tmp_path / "gloo_sum.py"
    script.write_text("import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\nimport horovod.tensorflow as hvd\n"
                      "import tensorflow as tf\nhvd.init()\n"
                      "print(f'total={float(hvd.allreduce(tf.constant(hvd.rank() + 1.0), op=hvd.Sum)):g}')\n"
                      "print(f'ops={os.environ[\"HOROVOD_CPU_OPERATIONS\"]}')\n")
    result = ck.horovodrun(script, n=2, timeout=120, echo=False)
    assert result.values("total") == ["3", "3"] and set(result.values("ops")) == {"gloo"}
    assert "[0]<stdout>:total=3" in result.output and "[1]<stdout>:total=3" in result.output


def test_text_table_aligns_columns():
    assert tables.text_table(["a", "bb"], [[1, 0.12345], [10, 1234.5]]).splitlines() == [
        " a     bb", "--  -----", " 1  0.123", "10   1234"]


# ------------------------------------------------------------ real faults, real ranks

def train(*args, n=2, timeout=120):
    return ck.mpirun("train_keras.py", *args, n=n, genv=horovod_env.RANK_ENV, cwd=SCRIPTS, timeout=timeout, echo=False)


@pytest.mark.mpi
def test_rank_dying_mid_training_ends_the_job_with_a_clear_message(tmp_path):
    # hydra ends the job as soon as one rank exits without MPI_Finalize: it kills the survivors (signal 9)
    drill = r"(?s)fault drill: rank 1 exits abruptly after epoch 1.*KILLED BY SIGNAL: 9"
    with pytest.raises(ck.MpiJobFailed, match=drill):
        train("--epochs", "3", "--train-limit", "2048", "--die-after-epoch", "1", "--ckpt-dir", tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.index")) == ["epoch-001.index"]


@pytest.mark.mpi
def test_more_ranks_than_samples_is_refused(tmp_path):
    with pytest.raises(ck.MpiJobFailed, match=r"1 training samples cannot be split over 2 ranks"):
        train("--train-limit", "1")


@pytest.mark.mpi
def test_corrupt_and_stale_checkpoints_are_explained(tmp_path):
    train("--epochs", "1", "--train-limit", "1024", "--batch", "64", "--ckpt-dir", tmp_path)
    with pytest.raises(ck.MpiJobFailed, match=r"newest checkpoint is from epoch 1, and --epochs is 1.*--fresh-start"):
        train("--epochs", "1", "--train-limit", "1024", "--batch", "64", "--ckpt-dir", tmp_path)
    (tmp_path / "epoch-001.index").write_bytes(b"not a checkpoint")
    with pytest.raises(ck.MpiJobFailed, match=r"checkpoint epoch-001 cannot be read .*corrupt"):
        train("--epochs", "2", "--train-limit", "1024", "--batch", "64", "--ckpt-dir", tmp_path)
    fresh = train("--epochs", "1", "--train-limit", "1024", "--batch", "64", "--ckpt-dir", tmp_path, "--fresh-start")
    assert fresh.value("start_epoch", str).startswith("0")
    assert "fresh start: removed 1 old checkpoint(s)" in fresh.output
