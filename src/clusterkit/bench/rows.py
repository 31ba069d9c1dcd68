"""The rows of the performance report: each runs real jobs, interleaved, and returns its figures.

Every ratio pairs two measurements of the same round; a row records the load average before and after it
and, where a figure falls well short of its ideal, the measured reason (load, communication share,
memory bandwidth). Per-rank scripts are the course's own where they fit, else those in bench/.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from clusterkit.course import MODULES
from clusterkit.machine.environment import REPO_ROOT, mpi_environment
from clusterkit.rank.horovod_env import RANK_ENV
from clusterkit.jobs.runner import MpiResult, horovodrun, mpirun
from clusterkit.machine.topology import local_topology
from clusterkit.bench import published
from clusterkit.bench.published import Published
from clusterkit.bench.stats import CpuClock, Summary, interleaved, load_average, paired_ratios, summarize

BENCH_SCRIPTS = REPO_ROOT / "bench"
SOLUTIONS = REPO_ROOT / "solutions"
OTHERS_MATTER = 0.1  # other processes using 10% of the CPUs' time during a row: its figures are disturbed
SHORTFALL = 0.8  # a figure below 80% of its ideal is "well short": the row must say why, from measurements
JOB_TIMEOUT = 600.0
# bytes one heat_step moves per grid point: domain.heat_step makes 9 NumPy passes over the grid (copy, 3 sums
# of neighbours, 4 * centre, difference, * ALPHA, + centre, store), reading 14 and writing 9 float64 arrays
HEAT_BYTES_PER_POINT = (14 + 9) * 8
HOROVOD_CYCLE_MS = 0.1

SIZES = {
    # smoke: every row's code once, in the least time (a test); one job per variant, so its spreads are not spreads
    "smoke": dict(repeats=2, job_repeats=1, stream_mib=32, sklearn_rows=(20_000, 50_000),
                  linreg_rows=(40_000, 20_000), kmeans_rows=(20_000, 10_000), heat_grids=[64, 256],
                  heat_work=2e6, hvd_batches=[32], hvd_steps=3, ddp_steps=3, ddp_batch=16, tf_batch=32, tf_steps=3,
                  warmup_steps=1, setup_repeats=0),
    "full": dict(repeats=5, job_repeats=3, stream_mib=256, sklearn_rows=(200_000, 1_000_000),
                 linreg_rows=(1_000_000, 500_000), kmeans_rows=(400_000, 200_000),
                 heat_grids=[64, 128, 192, 256, 384, 512, 768, 1024, 1536], heat_work=3e7, hvd_batches=[16, 64, 256],
                 hvd_steps=20, ddp_steps=40, ddp_batch=64, tf_batch=128, tf_steps=10, warmup_steps=2,
                 setup_repeats=2),
}


@dataclass
class Figure:
    """One measured figure: a ratio (unit "x"), an efficiency ("eff") or a quantity (µs, GB/s, s)."""

    name: str
    unit: str
    summary: Summary
    ideal: float | None = None
    published: Published | None = None
    reference: str = ""  # a figure of this run it should be read against (e.g. the copy bandwidth)

    @property
    def well_short(self) -> bool:
        return self.ideal is not None and self.summary.median < SHORTFALL * self.ideal

    @property
    def short_of_published(self) -> bool:
        value = self.published.value if self.published else None
        return value is not None and self.unit in ("x", "eff") and self.summary.median < SHORTFALL * value

    def as_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, **self.summary.as_dict(), "ideal": self.ideal,
                "published": self.published.as_dict() if self.published else None, "reference": self.reference,
                "well_short": self.well_short}


@dataclass
class Row:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    quoted: list[Published] = field(default_factory=list)  # published figures beside it, not measured here
    why: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plot: dict | None = None  # lines to draw (see report.plot_row); None: a bar per figure
    unavailable: str | None = None
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    others_cpu_share: float = 0.0  # of the owned CPUs' time during the row, used by processes outside the bench
    seconds: float = 0.0

    def add(self, *args, **kwargs) -> Figure:
        figure = Figure(*args, **kwargs)
        self.figures.append(figure)
        return figure

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "figures": [f.as_dict() for f in self.figures],
                "quoted": [q.as_dict() for q in self.quoted], "why": self.why, "notes": self.notes,
                "plot": self.plot, "unavailable": self.unavailable, "load_before": self.load_before,
                "load_after": self.load_after, "others_cpu_share": round(self.others_cpu_share, 3),
                "seconds": round(self.seconds, 1)}


@dataclass
class Bench:
    """What every row needs: the size, the rank counts, the cores, and what earlier rows measured."""

    size: str
    ranks: list[int]
    cores: int
    measured: dict = field(default_factory=dict)

    @property
    def settings(self) -> dict:
        return SIZES[self.size]

    @property
    def parallel_ranks(self) -> list[int]:
        """The rank counts that get a core each (no oversubscription)."""
        return [n for n in self.ranks if n <= self.cores]


# --- running jobs ---------------------------------------------------------------------------------------------

def job(script: Path, *args, n: int, genv: dict | None = None) -> MpiResult:
    """A quiet mpirun job of `script` on `n` ranks, from the script's folder (it imports its neighbours)."""
    return mpirun(script, *args, n=n, genv=genv, debug=None, echo=False, timeout=JOB_TIMEOUT, cwd=script.parent)


def process(script: Path, *args) -> str:
    """The output of `script` run by this Python, one process, no MPI."""
    done = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          cwd=script.parent, env=mpi_environment(), timeout=JOB_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def process_snippet(code: str, folder: Path) -> str:
    """The last line `python -c code` printed, run in `folder`."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=folder,
                          env=mpi_environment({"TF_CPP_MIN_LOG_LEVEL": 2}), timeout=JOB_TIMEOUT, check=True)
    return done.stdout.strip().splitlines()[-1]


def printed(output: str, key: str) -> str:
    """The value of the last `key=value` line of `output`."""
    lines = [line for line in output.splitlines() if line.startswith(f"{key}=")]
    if not lines:
        raise KeyError(f"no line '{key}=...' in:\n{output[-2000:]}")
    return lines[-1].split("=", 1)[1]


def by_rank_count(rank_counts: list[int], repeats: int, run: Callable[[int], object]) -> dict[int, list]:
    """run(n) for every rank count in every round, interleaved: {n: [result per round]}."""
    return interleaved({n: partial(run, n) for n in rank_counts}, repeats)


def load_reason(row: Row) -> str | None:
    """What other processes took of the CPUs while the row ran, when it was enough to matter (measured: the
    CPUs' busy time from /proc/stat minus the bench's own processes' CPU time; the load average alone would
    count the bench's own ranks of the row before)."""
    if row.others_cpu_share < OTHERS_MATTER:
        return None
    return (f"other processes used {row.others_cpu_share:.0%} of the CPUs' time while this row ran (load average "
            f"{row.load_before[0]:.1f} before, {row.load_after[0]:.1f} after): the timed code took turns with them, "
            "and a job of several ranks waits for the slowest one at every step")


def memory(bench: Bench, row: Row) -> None:
    """STREAM-like copy bandwidth on one core and on every core: the ceiling of memory-bound kernels."""
    counts = sorted({1, bench.cores})
    rates = by_rank_count(counts, bench.settings["job_repeats"], lambda n: float(printed(
        job(BENCH_SCRIPTS / "stream_copy.py", "--mib", bench.settings["stream_mib"], n=n).output, "copy_gb_per_s")))
    for n in counts:
        row.add(f"copy bandwidth, {n} core(s)", "GB/s", summarize(rates[n]))
        bench.measured[f"copy_gb_per_s_{n}"] = statistics.median(rates[n])
    if bench.cores > 1:
        gain = row.add(f"copy bandwidth, {bench.cores} cores vs 1", "x",
                       summarize(paired_ratios(rates[bench.cores], rates[1])), ideal=float(bench.cores))
        if gain.well_short:
            row.why.append(f"{bench.cores} cores copied {gain.summary.median:.2f}x as fast as one in this run: a "
                           "memory-bound kernel on all cores could gain no more than that")


def sklearn_vs_daal4py(bench: Bench, row: Row) -> None:
    kmeans_rows, linreg_rows = bench.settings["sklearn_rows"]
    output = process(BENCH_SCRIPTS / "sklearn_vs_daal4py.py", "--kmeans-rows", kmeans_rows, "--linreg-rows",
                     linreg_rows, "--repeats", bench.settings["repeats"])
    seconds = json.loads(printed(output, "result"))
    for algorithm, label, figure in (("kmeans", f"KMeans fit ({kmeans_rows:,} x 20, 16 clusters)",
                                      published.KMEANS_PATCHED),
                                     ("linreg", f"LinearRegression fit ({linreg_rows:,} x 50)",
                                      published.LINREG_PATCHED)):
        for variant in ("daal4py", "patched"):
            row.add(f"{label}: {'daal4py' if variant == 'daal4py' else 'patched scikit-learn'} vs stock", "x",
                    summarize(paired_ratios(seconds[f"{algorithm}_stock"], seconds[f"{algorithm}_{variant}"])),
                    published=figure)
    row.notes.append(f"one process, every library's default threads ({bench.cores} core(s)); the extension "
                     f"reported running oneDAL for both patched fits: {printed(output, 'patched_accelerated')}")


def daal4py_scaling(bench: Bench, row: Row) -> None:
    counts = sorted(set(bench.ranks) | ({1, 2 * bench.cores} if bench.size == "full" else {1}))
    scripts = {"k-means": (BENCH_SCRIPTS / "kmeans_scaling.py", bench.settings["kmeans_rows"],
                           published.KMEANS_32_NODES),
               "linear regression": (SOLUTIONS / "02_daal4py" / "linreg_scaling.py", bench.settings["linreg_rows"],
                                     published.LINREG_32_NODES)}
    row.plot = {"x": counts, "xlabel": "ranks", "ylabel": "strong speed-up / weak efficiency", "series": {},
                "ideal": {"ideal speed-up": [min(n, bench.cores) for n in counts],
                          "ideal weak efficiency": [min(n, bench.cores) / n for n in counts]}, "cores": bench.cores}
    for algorithm, (script, (total_rows, rows_per_rank), quoted) in scripts.items():
        def timings(n, script=script, total_rows=total_rows, rows_per_rank=rows_per_rank):
            output = job(script, "--total-rows", total_rows, "--rows-per-rank", rows_per_rank, n=n)
            return output.value("strong_seconds"), output.value("weak_seconds")

        runs = by_rank_count(counts, bench.settings["job_repeats"], timings)
        for kind, index in (("strong speed-up", 0), ("weak efficiency", 1)):
            base = [times[index] for times in runs[1]]
            series = []
            for n in counts:
                summary = summarize(paired_ratios(base, [times[index] for times in runs[n]]))
                series.append([summary.median, summary.low, summary.high])
                if n == 1:
                    continue
                over = " (oversubscribed)" if n > bench.cores else ""
                used = min(n, bench.cores)  # the ideal counts cores, not ranks: shared cores add nothing
                weak = index == 1
                figure = row.add(f"{algorithm}, {kind}, {n} ranks vs 1{over}", "eff" if weak else "x", summary,
                                 ideal=used / n if weak else float(used))
                if figure.well_short and n > bench.cores:
                    row.why.append(f"{algorithm}, {n} ranks: {n} ranks share {bench.cores} core(s) (oversubscribed)")
            row.plot["series"][f"{algorithm} {kind}"] = series
        row.quoted.append(quoted)
    row.notes.append(f"one oneDAL thread per rank; strong: {scripts['k-means'][1][0]:,} (k-means) and "
                     f"{scripts['linear regression'][1][0]:,} (linear regression) rows shared; weak: "
                     f"{scripts['k-means'][1][1]:,} and {scripts['linear regression'][1][1]:,} rows per rank; "
                     "the ideal of an oversubscribed run is the cores, not the ranks")


def heat_steps(grid: int, work: float) -> int:
    """Steps that give a grid of grid x grid about `work` point updates (10 to 5000)."""
    return max(10, min(5000, round(work / grid**2)))


def heat(bench: Bench, row: Row) -> None:
    """Strong scaling of the heat-diffusion stencil against the grid size: where do 2 ranks pay?"""
    script = SOLUTIONS / "01_parallelism" / "heat.py"
    grids, work = bench.settings["heat_grids"], bench.settings["heat_work"]

    def run(grid, n):
        output = job(script, grid, grid, heat_steps(grid, work), n=n)
        return output.value("seconds"), output.value("halo_seconds")

    speedups, series = {}, []
    for grid in grids:
        runs = by_rank_count([1, 2], bench.settings["job_repeats"], partial(run, grid))
        figure = row.add(f"2 ranks vs 1, {grid} x {grid} grid, {heat_steps(grid, work)} steps", "x",
                         summarize(paired_ratios([t for t, _ in runs[1]], [t for t, _ in runs[2]])), ideal=2.0)
        speedups[grid] = figure.summary.median
        series.append([figure.summary.median, figure.summary.low, figure.summary.high])
        if figure.well_short:
            row.why.append(f"{grid} x {grid}: {heat_why(bench, grid, work, runs)}")
    row.plot = {"x": grids, "xlabel": "grid side (points)", "ylabel": "speed-up, 2 ranks vs 1", "log_x": True,
                "series": {"heat diffusion": series}, "ideal": {"ideal": [2.0] * len(grids)}}
    reaching = [grid for grid in grids if speedups[grid] >= 1.8]
    bench.measured["heat_smallest_grid_1_8x"] = reaching[0] if reaching else None
    row.notes.append(f"smallest grid where 2 ranks reached 1.8x: {reaching[0]} x {reaching[0]}" if reaching else
                     "no grid reached 1.8x on 2 ranks in this run")
    bigger = [n for n in bench.parallel_ranks if n > 2]
    if bigger and reaching:
        grid = reaching[0]
        runs = by_rank_count([1, *bigger], bench.settings["job_repeats"], partial(run, grid))
        for n in bigger:
            figure = row.add(f"{n} ranks vs 1, {grid} x {grid} grid", "x",
                             summarize(paired_ratios([t for t, _ in runs[1]], [t for t, _ in runs[n]])), ideal=float(n))
            if figure.well_short:
                row.why.append(f"{grid} x {grid} on {n} ranks: {heat_why(bench, grid, work, runs, n)}")


def heat_why(bench: Bench, grid: int, work: float, runs: dict, n: int = 2) -> str:
    """The measured reasons a heat run fell short: halo share of the step, and memory bandwidth."""
    halo = statistics.median(h / t for t, h in runs[n])
    one_rank = statistics.median(t for t, _ in runs[1])
    moved = grid * grid * heat_steps(grid, work) * HEAT_BYTES_PER_POINT / one_rank / 1e9
    text = f"halo exchange (including waiting for the neighbour) took {halo:.0%} of the {n}-rank run"
    copy_one, copy_all = (bench.measured.get(f"copy_gb_per_s_{c}") for c in (1, bench.cores))
    if copy_one and moved > copy_one:
        text += (f"; 1 rank moved ~{moved:.0f} GB/s through NumPy's passes, more than a core copies from memory "
                 f"({copy_one:.0f} GB/s): the grid is served from the caches, so memory is not the limit")
    elif copy_all:
        text += (f"; 1 rank moved ~{moved:.0f} GB/s through NumPy's passes, {n} would need {n * moved:.0f} GB/s; "
                 f"all cores copy {copy_all:.0f} GB/s from memory (at most {copy_all / moved:.1f}x)")
    return text


def horovod(bench: Bench, row: Row) -> None:
    counts = bench.parallel_ranks
    if len(counts) < 2:
        row.unavailable = "this process owns one core: no rank count above 1 without sharing it"
        return
    script = SOLUTIONS / "03_horovod" / "benchmark.py"
    batches = bench.settings["hvd_batches"]
    gradient_bytes = 4 * int(process_snippet(
        "from hvd_common import build_model; print(build_model().count_params())", SOLUTIONS / "03_horovod"))
    largest = counts[-1]

    def run(n):
        output = job(script, "--batch", *batches, "--steps", bench.settings["hvd_steps"],
                     "--warmup-steps", bench.settings["warmup_steps"], "--intra", 1, "--inter", 1, n=n, genv=RANK_ENV)
        return {batch: output.value(f"images_per_second[small_cnn,{batch}]") for batch in batches}

    def allreduce(_):
        output = job(SOLUTIONS / "03_horovod" / "allreduce_bench.py", "--sizes", gradient_bytes, n=largest,
                     genv=RANK_ENV)
        return output.value(f"allreduce[{gradient_bytes}]") / 1e6

    runs = interleaved({**{n: partial(run, n) for n in counts}, "allreduce": partial(allreduce, 0)},
                       bench.settings["job_repeats"])
    row.plot = {"x": batches, "xlabel": "batch per rank", "ylabel": "scaling efficiency", "log_x": True,
                "series": {}, "ideal": {"ideal": [1.0] * len(batches)}}
    for n in counts[1:]:
        efficiency = {batch: summarize([many[batch] / (n * one[batch]) for one, many in zip(runs[1], runs[n])])
                      for batch in batches}
        row.plot["series"][f"{n} ranks"] = [[s.median, s.low, s.high] for s in efficiency.values()]
        for batch, summary in efficiency.items():
            figure = row.add(f"small CNN, batch {batch}/rank, {n} ranks vs 1, 1 thread each", "eff", summary,
                             ideal=1.0, published=published.HOROVOD_EFFICIENCY)
            if figure.well_short and n == largest:
                step = statistics.median(batch * n / many[batch] for many in runs[n])
                share = statistics.median(runs["allreduce"]) / step
                row.why.append(f"batch {batch}, {n} ranks: averaging the {gradient_bytes / 1e6:.1f} MB of gradients "
                               f"(Horovod allreduce, measured alone) takes {share:.0%} of a {step * 1e3:.1f} ms step")
        peak = max(efficiency, key=lambda batch: efficiency[batch].median)
        row.notes.append(f"{n} ranks: efficiency peaks at batch {peak} per rank ({efficiency[peak].median:.2f})")


def ddp(bench: Bench, row: Row) -> None:
    counts = bench.parallel_ranks
    layouts = [(n, 1) for n in counts] + ([(1, bench.cores)] if bench.cores > 1 else [])
    folder = SOLUTIONS / "04_torch_ccl"
    batch, largest = bench.settings["ddp_batch"], counts[-1]
    gradient_bytes = 4 * int(process_snippet(
        "from ddp_common import SmallCNN; print(sum(p.numel() for p in SmallCNN().parameters()))", folder))

    def run(layout):
        ranks, threads = layout
        output = job(folder / "ddp_train.py", "--epochs", 1, "--max-steps", bench.settings["ddp_steps"],
                     "--batch", batch * threads, n=ranks, genv={"OMP_NUM_THREADS": threads, "I_MPI_PIN_DOMAIN": "omp"})
        return output.value("images_per_second")

    def gloo_allreduce(_):
        output = job(folder / "allreduce_latency.py", "--sizes", gradient_bytes, n=largest)
        return float(printed(output.output, "result").split()[1])

    variants = {layout: partial(run, layout) for layout in dict.fromkeys(layouts)}
    if largest > 1:
        variants["allreduce"] = partial(gloo_allreduce, 0)
    runs = interleaved(variants, bench.settings["job_repeats"])
    for n in counts[1:]:
        figure = row.add(f"SmallCNN, {n} ranks x 1 thread vs 1 x 1 (batch {batch}/rank)", "x",
                         summarize(paired_ratios(runs[(n, 1)], runs[(1, 1)])), ideal=float(n))
        if figure.well_short and n == largest:
            step = statistics.median(batch * n / rate for rate in runs[(n, 1)])
            share = statistics.median(runs["allreduce"]) / step
            row.why.append(f"{n} ranks: averaging the {gradient_bytes / 1e6:.2f} MB of gradients (gloo allreduce, "
                           f"measured alone) takes {share:.0%} of a {step * 1e3:.1f} ms step")
    if bench.cores > 1:
        row.add(f"{bench.cores} ranks x 1 thread vs 1 rank x {bench.cores} threads (same global batch)", "x",
                summarize(paired_ratios(runs[(bench.cores, 1)], runs[(1, bench.cores)])))
    row.notes.append(f"{bench.settings['ddp_steps']} training steps per run, images/s over the training steps")


def allreduce(bench: Bench, row: Row) -> None:
    counts = bench.parallel_ranks
    if len(counts) < 2:
        row.unavailable = "this process owns one core: an allreduce needs 2 ranks with a core each"
        return
    n, small, large = counts[-1], 4, 16 * 2**20

    def torch_and_mpi4py(_):
        output = job(SOLUTIONS / "04_torch_ccl" / "allreduce_latency.py", "--sizes", small, large, n=n)
        times = {int(b): (float(g), float(m)) for b, g, m in (line.split() for line in output.values("result"))}
        return {"Intel MPI (mpi4py)": (times[small][1], times[large][1]), "gloo (torch)": (times[small][0],
                                                                                          times[large][0])}

    def horovod_run(controller):
        env = {**RANK_ENV, "HOROVOD_CPU_OPERATIONS": controller, "HOROVOD_CYCLE_TIME": HOROVOD_CYCLE_MS}
        args = (SOLUTIONS / "03_horovod" / "allreduce_bench.py", "--sizes", small, large)
        output = (job(*args, n=n, genv=env) if controller == "MPI" else
                  horovodrun(*args, n=n, env=env, echo=False, timeout=JOB_TIMEOUT, cwd=args[0].parent))
        return {f"Horovod, {controller} controller": (output.value(f"allreduce[{small}]") / 1e6,
                                                      output.value(f"allreduce[{large}]") / 1e6)}

    runs = interleaved({"torch_mpi4py": partial(torch_and_mpi4py, 0), "horovod_mpi": partial(horovod_run, "MPI"),
                        "horovod_gloo": partial(horovod_run, "GLOO")}, bench.settings["job_repeats"])
    copy_one = bench.measured.get("copy_gb_per_s_1")
    reference = f"copy bandwidth of 1 core: {copy_one:.1f} GB/s (this run)" if copy_one else ""
    for rounds in runs.values():
        for library in rounds[0]:
            latency = summarize([r[library][0] * 1e6 for r in rounds])
            bandwidth = summarize([large / r[library][1] / 1e9 for r in rounds])
            row.add(f"{library}: {small} B latency, {n} ranks", "us", latency)
            figure = row.add(f"{library}: 16 MiB bandwidth, {n} ranks", "GB/s", bandwidth, reference=reference)
            if copy_one and figure.summary.median < 0.25 * copy_one:
                row.why.append(f"{library}: 16 MiB summed at {figure.summary.median:.2f} GB/s, "
                               f"{figure.summary.median / copy_one:.0%} of one core's copy bandwidth")
    row.notes.append("bandwidth = message bytes / allreduce time (what the caller sees), one thread per rank; "
                     f"Horovod with HOROVOD_CYCLE_TIME={HOROVOD_CYCLE_MS} (ms between its background cycles: a "
                     "small message waits for the next one), as in 03_horovod/07_communication_backends")


def simd_and_tensorflow(bench: Bench, row: Row) -> None:
    try:
        seconds = json.loads(printed(process(BENCH_SCRIPTS / "simd_kernel.py", "--repeats",
                                             bench.settings["repeats"]), "result"))
        lanes = local_topology().widest_vector_bits // 32
        figures = [row.add(f"float32 a*x+y in L1: vectorised vs scalar ({flags})", "x",
                           summarize(paired_ratios(seconds["scalar"], seconds[variant])), ideal=float(lanes))
                   for variant, flags in (("vectorised", "-O3 -march=native"),
                                          ("vectorised_widest", "-O3 -march=native -mprefer-vector-width=512"))]
        if all(f.well_short for f in figures):
            row.why.append(f"SIMD: {figures[0].summary.median:.1f}x with gcc's choice of vector width, "
                           f"{figures[1].summary.median:.1f}x with 512-bit vectors forced: the width is not the limit; "
                           "each multiply-add also loads x and y and stores y (3 memory operations per 2 flops)")
        row.notes.append(f"SIMD ideal: {lanes} float32 lanes in the widest vectors this CPU has")
    except RuntimeError as error:
        row.notes.append(f"SIMD kernel not measured: {str(error).splitlines()[-1]}")
    script = SOLUTIONS / "03_horovod" / "benchmark.py"
    batch = bench.settings["tf_batch"]
    configurations = {"oneDNN on, intra-op = cores": ({}, 0), "oneDNN off, intra-op = cores":
                      ({"TF_ENABLE_ONEDNN_OPTS": 0}, 0), "oneDNN on, intra-op = 1": ({}, 1)}

    def run(name):
        env, intra = configurations[name]
        output = job(script, "--batch", batch, "--steps", bench.settings["tf_steps"],
                     "--warmup-steps", bench.settings["warmup_steps"], "--intra", intra,
                     "--inter", 0 if intra == 0 else 1, n=1, genv={**RANK_ENV, **env})
        return output.value(f"images_per_second[small_cnn,{batch}]")

    runs = interleaved({name: partial(run, name) for name in configurations}, bench.settings["job_repeats"])
    row.add(f"TensorFlow small CNN training, oneDNN on vs off (batch {batch})", "x",
            summarize(paired_ratios(runs["oneDNN on, intra-op = cores"], runs["oneDNN off, intra-op = cores"])),
            published=published.INTEL_TENSORFLOW)
    row.add(f"TensorFlow, intra-op threads {bench.cores} vs 1", "x",
            summarize(paired_ratios(runs["oneDNN on, intra-op = cores"], runs["oneDNN on, intra-op = 1"])),
            ideal=float(bench.cores))


def course(bench: Bench, row: Row) -> None:
    repeats = bench.settings["setup_repeats"]
    if repeats:
        def warm_setup():
            started = time.perf_counter()
            subprocess.run(["bash", "tools/setup.sh"], cwd=REPO_ROOT, capture_output=True, check=True,
                           timeout=JOB_TIMEOUT)
            return time.perf_counter() - started
        row.add("warm setup (`bash tools/setup.sh`, everything installed)", "s",
                summarize(interleaved({"setup": warm_setup}, repeats)["setup"]), published=published.WARM_SETUP)
    else:
        row.notes.append("warm setup not measured at this size")
    row.quoted += [published.COLD_SETUP, published.MAKE_TEST]
    for module in MODULES:
        notebooks = [json.loads(path.read_text())["metadata"].get("clusterkit", {})
                     for path in sorted((SOLUTIONS / module).glob("*.ipynb"))]
        executed = [meta for meta in notebooks if "executed_seconds" in meta]
        seconds = sum(meta["executed_seconds"] for meta in executed)
        dates = sorted(meta["executed"] for meta in executed) or ["never"]
        unexecuted = f" ({len(notebooks) - len(executed)} not executed yet)" if len(executed) < len(notebooks) else ""
        row.quoted.append(Published(float(seconds), f"{module}: {len(notebooks)} notebooks, Restart & Run All "
                                    f"{seconds} s{unexecuted}",
                                    f"the notebooks' metadata (clusterkit.authoring.execute, {dates[0]}..{dates[-1]}; "
                                    "not measured by this run)"))


ROWS: dict[str, tuple[str, Callable[[Bench, Row], None]]] = {
    "memory": ("Memory bandwidth (STREAM-like copy)", memory),
    "sklearn": ("daal4py and patched scikit-learn vs stock scikit-learn, one process", sklearn_vs_daal4py),
    "daal4py_scaling": ("Distributed k-means and linear regression (daal4py)", daal4py_scaling),
    "heat": ("Heat diffusion: domain decomposition with halo exchange", heat),
    "horovod": ("Horovod training throughput (TensorFlow)", horovod),
    "ddp": ("DDP training throughput (PyTorch)", ddp),
    "allreduce": ("Allreduce: small-message latency, large-message bandwidth", allreduce),
    "simd_tf": ("SIMD and TensorFlow settings", simd_and_tensorflow),
    "course": ("The course itself", course),
}


def measure(key: str, bench: Bench) -> Row:
    """Run one row; a row that cannot run on this machine says why instead of ending the report."""
    title, function = ROWS[key]
    row = Row(key, title, load_before=load_average())
    started, clock = time.perf_counter(), CpuClock.now()
    try:
        function(bench, row)
    except Exception as error:  # noqa: BLE001 - the report goes on; the row records what stopped it
        row.unavailable = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
    row.seconds = time.perf_counter() - started
    row.load_after = load_average()
    row.others_cpu_share = clock.others_share(CpuClock.now())
    short = [f for f in row.figures if f.well_short or f.short_of_published]
    if short and (reason := load_reason(row)):
        row.why.insert(0, reason)
    elif short and not row.why:
        row.why.append(f"{len(short)} figure(s) below 80% of the ideal or published figure; this run measured "
                       "no cause (the machine was quiet)")
    return row
