"""python -m clusterkit.bench [--size smoke|full] [--ranks 1 2 4] [--rows heat allreduce] [--out DIR] [--readme]

Runs the rows, prints one table, writes bench-<UTC time>.json and a PNG per row to DIR (default
bench/results/), and prints the JSON's path on the last line. No pass/fail: it is a benchmark.
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from clusterkit.machine.environment import REPO_ROOT
from clusterkit.machine.topology import local_topology, rank_counts, recorded_on
from clusterkit.bench import report
from clusterkit.bench.rows import ROWS, SIZES, Bench, measure
from clusterkit.bench.stats import load_average

LATEST = REPO_ROOT / "bench" / "latest"  # the run the README shows (tracked; bench/results/ is not)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m clusterkit.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), default="full", help="smoke: smallest and quick (a test)")
    parser.add_argument("--ranks", nargs="+", type=int, default=None,
                        help="rank counts (default: 1, 2, 4 ... up to the cores this process owns)")
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--readme", action="store_true",
                        help="also write the table into README.md and keep this run in bench/latest/")
    args = parser.parse_args(argv)

    topology = local_topology()
    ranks = sorted(set(args.ranks or rank_counts(topology.n_cores)) | {1})
    bench = Bench(args.size, ranks, topology.n_cores)
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    load_before = load_average()
    print(f"bench ({args.size}) on {recorded_on(topology)}; ranks {ranks}; load average {load_before}", flush=True)
    rows = []
    for key in [key for key in ROWS if key in args.rows]:  # in ROWS' order: later rows read earlier ones
        print(f"  {ROWS[key][0]} ...", flush=True)
        rows.append(measure(key, bench))
        print(f"    {rows[-1].seconds:.0f} s" + (f", not measured: {rows[-1].unavailable}"
                                                  if rows[-1].unavailable else ""), flush=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    plots = [report.plot_row(row, args.out / f"bench-{stamp}-{row.key}.png", topology.n_cores)
             for row in rows if row.figures]
    result = {"schema": 1, "started": started.isoformat(timespec="seconds"), "size": args.size, "ranks": ranks,
              "cores": topology.n_cores, "machine": recorded_on(topology), "cpu_model": topology.model,
              "wall_seconds": round(time.perf_counter() - clock, 1), "load_before": load_before,
              "load_after": load_average(), "rows": [row.as_dict() for row in rows],
              "plots": [path.name for path in plots]}
    json_path = args.out / f"bench-{stamp}.json"
    report.write_json(json_path, result)
    table = report.table(rows)
    print(f"\n{table}\n\nplots: {', '.join(str(path) for path in plots)}")
    if args.readme:
        report.publish(json_path, plots, LATEST)
        report.update_readme(REPO_ROOT / "README.md", report.readme_section(result, table, LATEST))
        print(f"README.md: performance table updated; its JSON and plots copied to {LATEST.relative_to(REPO_ROOT)}/")
    print(json_path)
    return json_path


if __name__ == "__main__":
    main()
