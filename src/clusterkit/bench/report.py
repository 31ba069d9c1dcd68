"""The report of a bench run: one table (Markdown, printed and put in the README), the JSON, the plots."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from clusterkit.notebook.tables import replace_between
from clusterkit.bench.rows import Figure, Row

README_SECTION = "bench"
README_BEGIN, README_END = f"<!-- {README_SECTION}:begin -->", f"<!-- {README_SECTION}:end -->"
HEADERS = ["row", "figure", "median", "spread (min-max)", "n", "ideal", "published figure", "load 1 min before/after"]


def show(value: float, unit: str) -> str:
    """A figure with its unit: 1.93x, 0.87, 12.3 µs, 9.81 GB/s, 21.4 s."""
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "eff":
        return f"{value:.2f}"
    if unit == "us":
        return f"{value:.1f} µs"
    return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"


def figure_cells(figure: Figure) -> list[str]:
    s = figure.summary
    published = figure.published
    quoted = (f"{show(published.value, figure.unit)} ({published.label})" if published and published.value is not None
              and figure.unit in ("x", "eff", "s") else published.label if published else figure.reference)
    return [figure.name, show(s.median, figure.unit), f"{show(s.low, figure.unit)} - {show(s.high, figure.unit)}",
            str(s.repeats), show(figure.ideal, figure.unit) if figure.ideal is not None else "-", quoted or "-"]


def table(rows: list[Row]) -> str:
    """One Markdown table of every row's figures, then each row's reasons and notes."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        load = f"{row.load_before[0]:.2f} / {row.load_after[0]:.2f}" if row.load_before else "-"
        cells = [figure_cells(f) for f in row.figures]
        cells += [[q.label, "-", "not measured in this run", "-", "-", f"quoted from {q.source}"] for q in row.quoted]
        if row.unavailable:
            cells.insert(0, [f"not measured: {row.unavailable}", "-", "-", "-", "-", "-"])
        for index, figure_row in enumerate(cells):
            first = index == 0
            lines.append("| " + " | ".join([row.title if first else "", *figure_row, load if first else ""]) + " |")
    lines.append("")
    for row in rows:
        for reason in row.why:
            lines.append(f"- **why** ({row.title}): {reason}")
    for row in rows:
        for note in row.notes:
            lines.append(f"- *{row.title}*: {note}")
    return "\n".join(lines)


def write_json(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def plot_row(row: Row, path: Path, cores: int) -> Path:
    """Lines for rows that scale over something (ranks, grid, batch), else a bar per ratio figure; the bars'
    whiskers are the spread, the grey marks the ideal or the published figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    if row.plot:
        spec = row.plot
        for label, points in spec["series"].items():
            medians = [p[0] for p in points]
            ax.errorbar(spec["x"], medians, yerr=[[m - p[1] for m, p in zip(medians, points)],
                                                  [p[2] - m for m, p in zip(medians, points)]],
                        marker="o", capsize=3, label=label)
        for label, ideal in spec.get("ideal", {}).items():
            ax.plot(spec["x"], ideal, ls="--", color="grey", lw=1, label=label)
        if spec.get("cores"):
            ax.axvline(spec["cores"], color="red", ls=":", label=f"{cores} cores")
        if spec.get("log_x"):
            ax.set_xscale("log", base=2)
        ax.set_xticks(spec["x"], [str(x) for x in spec["x"]])
        ax.set_xlabel(spec["xlabel"])
        ax.set_ylabel(spec["ylabel"])
    else:
        figures = [f for f in row.figures if f.unit in ("x", "eff")] or row.figures
        positions = range(len(figures))
        medians = [f.summary.median for f in figures]
        ax.bar(positions, medians, yerr=[[m - f.summary.low for m, f in zip(medians, figures)],
                                         [f.summary.high - m for m, f in zip(medians, figures)]], capsize=3)
        for x, f in zip(positions, figures):
            mark = f.ideal if f.ideal is not None else (f.published.value if f.published else None)
            if mark is not None:
                ax.plot([x - 0.4, x + 0.4], [mark, mark], color="grey", ls="--")
        ax.set_xticks(list(positions), [textwrap.fill(f.name, 28) for f in figures], fontsize=6)
        ax.set_ylabel(", ".join(dict.fromkeys(f.unit for f in figures)))
    ax.set_title(row.title, fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def readme_section(report: dict, table_text: str, latest: Path) -> str:
    """What the README shows between its bench markers (they stay): when, where, how, and the table."""
    folder = f"{latest.parent.name}/{latest.name}"
    return (f"Latest full run: {report['started'][:10]}, on {report['machine']}: "
            f"`make bench`, {report['wall_seconds'] / 60:.1f} min, ranks {report['ranks']}, load average (1 min) "
            f"{report['load_before'][0]:.2f} before and {report['load_after'][0]:.2f} after. Raw results and plots: "
            f"[`{folder}/`]({folder}/).\n\n{table_text}")


def publish(json_path: Path, plots: list[Path], latest: Path) -> None:
    """Keep this run's JSON and plots in `latest` (the run the README shows), replacing the previous one."""
    latest.mkdir(parents=True, exist_ok=True)
    for old in [*latest.glob("bench-*.json"), *latest.glob("bench-*.png")]:
        old.unlink()
    for path in [json_path, *plots]:
        shutil.copy2(path, latest / path.name)


def update_readme(readme: Path, section: str) -> None:
    readme.write_text(replace_between(readme.read_text(), README_SECTION, section))
