"""The performance report (`make bench`): its statistics and formatting, and a smoke run at its smallest size
that checks the shape of what it writes (never a speed: it is a benchmark, not a test)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clusterkit.bench import report
from clusterkit.bench.published import Published
from clusterkit.bench.rows import ROWS, Figure, Row, heat_steps
from clusterkit.bench.stats import CpuClock, interleaved, paired_ratios, summarize
from clusterkit.machine.environment import REPO_ROOT


def test_summary_is_the_median_and_the_range():
    summary = summarize([3.0, 1.0, 10.0, 2.0])
    assert (summary.median, summary.low, summary.high, summary.repeats) == (2.5, 1.0, 10.0, 4)
    assert summary.as_dict()["spread"] == [1.0, 10.0]


@pytest.mark.parametrize("values", [[], [1.0, float("nan")], [float("inf")]])
def test_summary_refuses_what_was_not_measured(values):
    with pytest.raises(ValueError):
        summarize(values)


def test_ratios_pair_measurements_of_the_same_round():
    assert paired_ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError):
        paired_ratios([1.0, 2.0], [1.0])


def test_interleaved_runs_every_variant_each_round_alternating_who_goes_first():
    calls = []
    results = interleaved({"a": lambda: calls.append("a") or len(calls), "b": lambda: calls.append("b") or len(calls)},
                          repeats=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert results == {"a": [1, 4, 5], "b": [2, 3, 6]}
    with pytest.raises(ValueError):
        interleaved({"a": lambda: 0}, repeats=0)


def test_a_figure_is_well_short_below_80_percent_of_its_ideal():
    assert Figure("f", "x", summarize([1.5]), ideal=2.0).well_short
    assert not Figure("f", "x", summarize([1.7]), ideal=2.0).well_short
    assert not Figure("f", "x", summarize([0.1])).well_short  # no ideal: nothing to fall short of


@pytest.mark.parametrize("value, unit, shown", [(1.934, "x", "1.93x"), (0.8712, "eff", "0.87"),
                                                (12.34, "us", "12.3 µs"), (9.812, "GB/s", "9.81 GB/s"),
                                                (243.4, "s", "243 s")])
def test_figures_are_shown_with_their_unit(value, unit, shown):
    assert report.show(value, unit) == shown


def test_the_table_has_a_line_per_figure_the_quoted_figures_and_the_reasons():
    row = Row("r", "A row", load_before=[0.5, 0, 0], load_after=[1.5, 0, 0],
              quoted=[Published(243.0, "cold setup 243 s", "README.md")], why=["halo exchange took 40%"])
    row.add("2 ranks vs 1", "x", summarize([1.5, 1.9, 1.7]), ideal=2.0,
            published=Published(7.7, "7.7x somewhere", "https://example.org"))
    text = report.table([row, Row("u", "Missing", unavailable="no gcc", load_before=[0, 0, 0], load_after=[0, 0, 0])])
    lines = text.splitlines()
    assert lines[0].startswith("| row | figure | median")
    assert ("| A row | 2 ranks vs 1 | 1.70x | 1.50x - 1.90x | 3 | 2.00x | 7.70x (7.7x somewhere) | 0.50 / 1.50 |"
            in lines)
    assert any("cold setup 243 s" in line and "not measured in this run" in line for line in lines)
    assert "- **why** (A row): halo exchange took 40%" in lines
    assert any(line.startswith("| Missing | not measured: no gcc") for line in lines)


def test_heat_steps_keep_the_work_per_run_about_constant():
    assert heat_steps(1000, 3e7) == 30
    assert heat_steps(10_000, 3e7) == 10  # at least 10 steps
    assert heat_steps(8, 3e7) == 5000  # at most 5000


def test_readme_section_is_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_BEGIN}\nold table\n{report.README_END}\nrest\n")
    report.update_readme(readme, "new table")
    assert readme.read_text() == f"intro\n{report.README_BEGIN}\nnew table\n{report.README_END}\nrest\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError):
        report.update_readme(readme, "x")


def test_the_readme_carries_a_table_of_a_full_run():
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(report.README_BEGIN):text.index(report.README_END)]
    assert "Latest full run:" in section and "| row | figure | median" in section


@pytest.mark.bench
def test_smoke_run_writes_the_table_the_json_and_the_plots(tmp_path, record_property):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "clusterkit.bench", "--size", "smoke", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    last_line = done.stdout.strip().splitlines()[-1]
    assert Path(last_line).parent == tmp_path and Path(last_line).suffix == ".json"
    assert "| row | figure | median | spread (min-max) | n |" in done.stdout

    result = json.loads(Path(last_line).read_text())
    record_property("bench smoke run, seconds per row", ", ".join(
        f"{row['key']} {row['seconds']:.0f}" for row in result["rows"]) + f" ({time.perf_counter() - started:.0f} s)")
    assert [row["key"] for row in result["rows"]] == list(ROWS)
    assert result["size"] == "smoke" and 1 in result["ranks"] and result["cores"] >= 1 and result["machine"]
    assert len(result["load_before"]) == len(result["load_after"]) == 3
    for row in result["rows"]:
        assert len(row["load_before"]) == len(row["load_after"]) == 3, row["key"]
        assert 0.0 <= row["others_cpu_share"] <= 1.0, row["key"]
        assert row["figures"] or row["quoted"] or row["unavailable"], f"{row['key']}: no figure and no reason"
        for figure in row["figures"]:
            assert figure["repeats"] == len(figure["values"]) >= 1, (row["key"], figure["name"])
            assert figure["low"] <= figure["median"] <= figure["high"] and figure["spread"] == [figure["low"],
                                                                                              figure["high"]]
            if figure["published"]:
                assert figure["published"]["label"] and figure["published"]["source"]
    rows = {row["key"]: row for row in result["rows"]}
    assert all(f["published"] for f in rows["sklearn"]["figures"]), "the scikit-learn-intelex figures beside it"
    assert {q["source"] for q in rows["course"]["quoted"]}, "the README's figures, quoted with their source"
    for plot in result["plots"]:
        assert (tmp_path / plot).stat().st_size > 1000
    assert len(result["plots"]) == sum(1 for row in result["rows"] if row["figures"])


def test_others_share_is_busy_time_not_spent_by_this_process_tree():
    before = CpuClock(wall=0.0, busy=10.0, own=4.0, cpus=2)
    assert before.others_share(CpuClock(wall=10.0, busy=25.0, own=9.0, cpus=2)) == pytest.approx(0.5)  # 10 of 20 s
    assert before.others_share(CpuClock(wall=10.0, busy=15.0, own=9.0, cpus=2)) == 0.0   # all of it the tree's own


def test_a_child_that_burns_cpu_counts_as_this_tree_not_as_others():
    before = CpuClock.now()
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.5\n"
                    "while time.process_time() < end: pass"], check=True)
    after = CpuClock.now()
    assert after.own - before.own >= 0.45
    assert after.busy > before.busy
    assert 0.0 <= before.others_share(after) <= 1.0
