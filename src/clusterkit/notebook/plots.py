"""Plots that several modules share: strong and weak scaling with their ideal lines."""
from __future__ import annotations

from collections.abc import Sequence


def speedups(ranks: Sequence[int], seconds: Sequence[float]) -> list[float]:
    """Speed-up of each run against the first (usually 1 rank): t(first) / t(run)."""
    return [seconds[0] / s for s in seconds]


def efficiencies(ranks: Sequence[int], seconds: Sequence[float], weak: bool = False) -> list[float]:
    """Parallel efficiency: strong = speed-up / (ranks / first ranks); weak = t(first) / t(run)."""
    if weak:
        return speedups(ranks, seconds)
    return [s / (r / ranks[0]) for s, r in zip(speedups(ranks, seconds), ranks)]


def scaling_table(ranks: Sequence[int], seconds: Sequence[float], weak: bool = False) -> str:
    """A text table of ranks, time, speed-up (strong) and efficiency."""
    lines = [f"{'ranks':>5}  {'time':>9}  {'speed-up':>8}  {'efficiency':>10}"]
    for r, t, s, e in zip(ranks, seconds, speedups(ranks, seconds), efficiencies(ranks, seconds, weak)):
        speedup = "-" if weak else f"{s:.2f}x"  # weak scaling grows the problem: no speed-up to read
        lines.append(f"{r:>5}  {t:>8.3f}s  {speedup:>8}  {e:>9.0%}")
    return "\n".join(lines)


def plot_scaling(ranks: Sequence[int], seconds: Sequence[float], weak: bool = False, ax=None,
                 label: str = "measured", cores: int | None = None, title: str | None = None):
    """Strong scaling: speed-up vs ranks with the ideal line y = x. Weak scaling: efficiency vs ranks
    with the ideal line y = 1. A dotted vertical line marks the number of physical cores, past which
    ranks share cores and no speed-up can be expected."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    if weak:
        ax.plot(ranks, efficiencies(ranks, seconds, weak=True), "o-", label=label)
        ax.axhline(1.0, color="grey", ls="--", label="ideal (constant time)")
        ax.set_ylabel("efficiency  t(1) / t(n)")
        ax.set_ylim(0, 1.2)
    else:
        ax.plot(ranks, speedups(ranks, seconds), "o-", label=label)
        ax.plot(ranks, [r / ranks[0] for r in ranks], color="grey", ls="--", label="ideal (linear)")
        ax.set_ylabel("speed-up  t(1) / t(n)")
    if cores is not None:
        ax.axvline(cores, color="red", ls=":", label=f"{cores} physical cores")
    ax.set_xlabel("ranks")
    ax.set_xticks(list(ranks))
    ax.set_title(title or ("weak scaling" if weak else "strong scaling"), fontsize=10)
    ax.legend(fontsize=8)
    return ax


def plot_world_size(timelines: dict, ax=None, title: str = "world size over time"):
    """Elastic jobs' world size against time, one step line per job: `timelines` maps a label to the job's
    [(seconds, world size from then on), ...] (clusterkit.jobs.elastic.ElasticResult.timeline()); a drop to 0 is
    a failure, the climb after it the rendezvous that restarted the survivors."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.0))
    for label, points in timelines.items():
        times, sizes = zip(*[(0.0, 0), *points])
        ax.step(times, sizes, where="post", label=label)
    largest = max(size for points in timelines.values() for _, size in points)
    ax.set_yticks(range(largest + 1))
    ax.set_xlabel("seconds since the job's first log line")
    ax.set_ylabel("world size")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax
