"""Horovod's collectives in this environment, each compared on every rank with the same operation done in NumPy.

    mpirun -n N python horovod_collectives.py [--quick]       HOROVOD_CPU_OPERATIONS=MPI or CCL
    horovodrun --gloo -np N python horovod_collectives.py     HOROVOD_CPU_OPERATIONS=GLOO

Every rank makes every rank's inputs from a seed (case number, rank), so each can compute the expected result
alone. Cases: allreduce (sum, average, min, max, pre- and postscale), grouped allreduce, allreduces fused in one
cycle, allgather of tensors whose first dimensions differ by rank, grouped allgather and allgathers fused in one
cycle, broadcast from the first and the last rank, alltoall with uneven splits; for every dtype the course's
jobs send. "Fused" cases are issued together inside one tf.function, so Horovod's background thread finds them
in the same cycle (the script sets HOROVOD_CYCLE_TIME long enough) and runs them as one operation through its
fusion buffer, as it does with a model's gradients; the job's Horovod timeline shows the fusion buffer in use.

Rank 0 prints one line per case, `case NAME dtype=D: ok` or `... WRONG (...)`, then
`collectives: P passed, F failed, size=N, cpu_operations=OPS`. The exit status is 1 when a case is wrong.
--quick runs only the fused cases, in float32 (the course's self-check).
"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# ms between Horovod's cycles: long enough that the fused cases, issued together, meet in one cycle
os.environ.setdefault("HOROVOD_CYCLE_TIME", "20")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import horovod.tensorflow as hvd  # noqa: E402

# what the course's Horovod jobs send: float32 gradients and weights, the optimizer's int64 step counter,
# int32 and float64 values of the notebooks' own checks
DTYPES = ("float32", "float64", "int32", "int64")
FLOAT_TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def inputs(case: int, rank: int, shape, dtype: str) -> np.ndarray:
    """Rank `rank`'s input of case `case`: the same on every rank that asks."""
    rng = np.random.default_rng([case, rank])
    if dtype.startswith("float"):
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(-1000, 1000, size=shape).astype(dtype)


def differs(got, want, dtype: str) -> str | None:
    """None when equal (floats within their tolerance), else what differs."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if got.dtype != want.dtype:
        return f"dtype {got.dtype}, expected {want.dtype}"
    tolerance = FLOAT_TOLERANCE.get(dtype)
    if tolerance is None:
        wrong = int(np.count_nonzero(got != want))
        return f"{wrong} of {got.size} values differ" if wrong else None
    if np.allclose(got, want, rtol=tolerance, atol=tolerance):
        return None
    return f"largest difference {float(np.max(np.abs(got - want))):.3g}"


class Cases:
    def __init__(self, size: int, rank: int):
        self.size, self.rank, self.number, self.results = size, rank, 0, []

    def next_case(self) -> int:
        self.number += 1
        return self.number

    def record(self, name: str, dtype: str, got, want) -> None:
        problems = [differs(g, w, dtype) for g, w in zip(got, want)] if isinstance(got, list) else [
            differs(got, want, dtype)]
        problem = "; ".join(p for p in problems if p)
        self.results.append((f"{name} dtype={dtype}", problem))

    def all_inputs(self, shape, dtype):
        case = self.next_case()
        return [inputs(case, r, shape, dtype) for r in range(self.size)], case


def reduce(values: list[np.ndarray], op) -> np.ndarray:
    stacked = np.stack(values)
    if op is hvd.Sum:
        return stacked.sum(axis=0, dtype=stacked.dtype)
    if op is hvd.Average:
        return (stacked.sum(axis=0, dtype=stacked.dtype) / len(values)).astype(stacked.dtype)
    return (stacked.min if op is hvd.Min else stacked.max)(axis=0)


def allreduces(cases: Cases, dtype: str) -> None:
    ops = [("sum", hvd.Sum), ("min", hvd.Min), ("max", hvd.Max)]
    if dtype.startswith("float"):
        ops.insert(1, ("average", hvd.Average))
    for name, op in ops:
        values, _ = cases.all_inputs((17, 3), dtype)
        got = hvd.allreduce(tf.constant(values[cases.rank]), op=op, name=f"allreduce_{name}_{dtype}")
        cases.record(f"allreduce {name}", dtype, got.numpy(), reduce(values, op))
    if dtype.startswith("float"):
        values, _ = cases.all_inputs((33,), dtype)
        got = hvd.allreduce(tf.constant(values[cases.rank]), op=hvd.Sum, prescale_factor=0.5, postscale_factor=3.0,
                            name=f"allreduce_scaled_{dtype}")
        want = (3.0 * np.stack([0.5 * v for v in values]).sum(axis=0)).astype(dtype)
        cases.record("allreduce sum prescale 0.5 postscale 3", dtype, got.numpy(), want)
    shapes = [(5,), (4, 3), (2, 2, 2)]
    op = hvd.Average if dtype.startswith("float") else hvd.Sum
    per_tensor = [cases.all_inputs(shape, dtype)[0] for shape in shapes]
    got = hvd.grouped_allreduce([tf.constant(v[cases.rank]) for v in per_tensor], op=op)
    cases.record("grouped allreduce", dtype, [g.numpy() for g in got], [reduce(v, op) for v in per_tensor])
    fused_allreduces(cases, dtype)


def fused_allreduces(cases: Cases, dtype: str) -> None:
    shapes = [(64,), (8, 8), (3, 5), (1,)]
    per_tensor = [cases.all_inputs(shape, dtype)[0] for shape in shapes]

    @tf.function
    def together(tensors):
        return [hvd.allreduce(t, op=hvd.Sum, name=f"fused_allreduce_{i}_{dtype}") for i, t in enumerate(tensors)]

    got = together([tf.constant(v[cases.rank]) for v in per_tensor])
    cases.record("fused allreduce (4 in one cycle)", dtype, [g.numpy() for g in got],
                 [reduce(v, hvd.Sum) for v in per_tensor])


def rows_of(rank: int, base: int) -> int:
    """First dimension of a rank's allgather input: different on every rank."""
    return base + 2 * rank


def allgathers(cases: Cases, dtype: str) -> None:
    case = cases.next_case()
    values = [inputs(case, r, (rows_of(r, 1), 3), dtype) for r in range(cases.size)]
    got = hvd.allgather(tf.constant(values[cases.rank]), name=f"allgather_{dtype}")
    cases.record("allgather (first dimension 1+2*rank)", dtype, got.numpy(), np.concatenate(values))
    per_tensor = []
    for base in (1, 3, 2):
        case = cases.next_case()
        per_tensor.append([inputs(case, r, (rows_of(r, base), 2), dtype) for r in range(cases.size)])
    got = hvd.grouped_allgather([tf.constant(v[cases.rank]) for v in per_tensor])
    cases.record("grouped allgather", dtype, [g.numpy() for g in got], [np.concatenate(v) for v in per_tensor])
    fused_allgathers(cases, dtype)


def fused_allgathers(cases: Cases, dtype: str) -> None:
    per_tensor = []
    for base, width in ((1, 4), (2, 1), (4, 3)):
        case = cases.next_case()
        per_tensor.append([inputs(case, r, (rows_of(r, base), width), dtype) for r in range(cases.size)])

    @tf.function
    def together(tensors):
        return [hvd.allgather(t, name=f"fused_allgather_{i}_{dtype}") for i, t in enumerate(tensors)]

    got = together([tf.constant(v[cases.rank]) for v in per_tensor])
    cases.record("fused allgather (3 in one cycle)", dtype, [g.numpy() for g in got],
                 [np.concatenate(v) for v in per_tensor])


def broadcasts(cases: Cases, dtype: str) -> None:
    for root in sorted({0, cases.size - 1}):
        values, _ = cases.all_inputs((6, 2), dtype)
        got = hvd.broadcast(tf.constant(values[cases.rank]), root_rank=root, name=f"broadcast_{root}_{dtype}")
        cases.record(f"broadcast from rank {root}", dtype, got.numpy(), values[root])


def alltoalls(cases: Cases, dtype: str) -> None:
    def splits(sender: int) -> list[int]:  # rows `sender` sends to each rank: uneven, one rank gets none
        return [(sender + receiver) % 3 for receiver in range(cases.size)]

    case = cases.next_case()
    values = [inputs(case, r, (sum(splits(r)), 2), dtype) for r in range(cases.size)]
    got, received = hvd.alltoall(tf.constant(values[cases.rank]), splits=splits(cases.rank),
                                 name=f"alltoall_{dtype}")
    offsets = [np.cumsum([0] + splits(r)) for r in range(cases.size)]
    want = np.concatenate([values[r][offsets[r][cases.rank]:offsets[r][cases.rank + 1]] for r in range(cases.size)])
    cases.record("alltoall (uneven splits)", dtype, [got.numpy(), received.numpy()],
                 [want, np.array([splits(r)[cases.rank] for r in range(cases.size)], dtype=np.int32)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the fused cases, float32 (the self-check)")
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    hvd.init()
    cases = Cases(hvd.size(), hvd.rank())
    groups = [fused_allreduces, fused_allgathers] if args.quick else [allreduces, allgathers, broadcasts, alltoalls]
    for dtype in ("float32",) if args.quick else DTYPES:
        for group in groups:
            group(cases, dtype)
    # every rank compared its own results; rank 0 reports what any rank found wrong
    wrong = hvd.allgather_object([(name, problem) for name, problem in cases.results if problem])
    if hvd.rank() == 0:
        found = {}
        for rank, problems in enumerate(wrong):
            for name, problem in problems:
                found.setdefault(name, []).append(f"rank {rank}: {problem}")
        for name, _ in cases.results:
            print(f"case {name}: " + (f"WRONG ({'; '.join(found[name])})" if name in found else "ok"))
        operations = os.environ.get("HOROVOD_CPU_OPERATIONS", "Horovod's default")
        print(f"collectives: {len(cases.results) - len(found)} passed, {len(found)} failed, size={hvd.size()}, "
              f"cpu_operations={operations}", flush=True)
    failed = any(wrong)
    hvd.shutdown()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
