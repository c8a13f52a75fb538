"""tools/bench_compare.py: reading benchmark figures (BENCH lines, and the human-readable lines
of revisions older than them) and comparing medians. No database, no subprocess.

bench_output/ holds one real run of each benchmark, with its BENCH lines.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import bench_compare

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path(__file__).resolve().parent / "bench_output"
Figure = bench_compare.Figure
BENCH_FILES = sorted(p.stem for p in (ROOT / "tests" / "bench").glob("test_bench_*.py"))


def _without_bench_lines(text: str) -> str:
    return re.sub(r"(?m)^.*BENCH .*$\n?", "", text)


def test_every_benchmark_has_a_sample_and_legacy_patterns():
    assert sorted(p.stem for p in SAMPLES.glob("*.txt")) == BENCH_FILES
    assert sorted(bench_compare.LEGACY) == BENCH_FILES


@pytest.mark.parametrize("bench", BENCH_FILES)
def test_human_readable_lines_give_the_figures_of_the_bench_lines(bench):
    """A base revision prints no BENCH lines; its human-readable lines must yield the same
    figures under the same names, units and directions (to the printed precision)."""
    output = (SAMPLES / f"{bench}.txt").read_text()
    exact = bench_compare.parse_figures(output, f"tests/bench/{bench}.py")
    legacy = bench_compare.parse_figures(_without_bench_lines(output), f"tests/bench/{bench}.py")
    assert exact, "the sample has no BENCH lines"
    assert sorted(legacy) == sorted(exact)
    for name, figure in exact.items():
        old = legacy[name]
        assert (old.unit, old.better) == (figure.unit, figure.better), name
        assert old.value == pytest.approx(figure.value, rel=0.01, abs=0.06), name


def test_bench_lines_are_found_after_pytest_progress_dots_and_the_last_one_wins():
    output = (
        "tests/bench/x.py \nsome text\n.BENCH a.rate=1.5e+03 unit=rows/s better=higher\n"
        "BENCH a.time=2 unit=ms better=lower\nBENCH a.time=3 unit=ms better=lower\n"
        "BENCH a.bad=abc unit=ms better=lower\n"
    )
    figures = bench_compare.parse_figures(output, "tests/bench/test_bench_x.py")
    assert figures == {
        "a.rate": Figure("a.rate", 1500.0, "rows/s", "higher"),
        "a.time": Figure("a.time", 3.0, "ms", "lower"),
    }


def test_output_without_figures_gives_none():
    assert bench_compare.parse_figures("1 passed in 0.1s", "tests/bench/test_bench_new.py") == {}
    assert bench_compare.parse_figures("FAILED", "tests/bench/test_bench_api_auth.py") == {}


def _runs(name, unit, better, base, new):
    return {
        "base": [{name: Figure(name, v, unit, better)} for v in base],
        "new": [{name: Figure(name, v, unit, better)} for v in new],
    }


@pytest.mark.parametrize(
    ("better", "base", "new", "change", "worse"),
    [
        ("higher", [100, 90, 110], [80, 85, 200], -15.0, True),  # medians 100 -> 85
        ("higher", [100, 100, 100], [95, 95, 95], -5.0, False),
        ("higher", [100], [150], 50.0, False),
        ("lower", [10, 10, 10], [11.5, 11.5, 99], 15.0, True),  # medians 10 -> 11.5
        ("lower", [10], [10.5], 5.0, False),
        ("lower", [10], [5], -50.0, False),
    ],
)
def test_compare_flags_only_changes_for_the_worse_beyond_the_threshold(
    better, base, new, change, worse
):
    [row] = bench_compare.compare(
        "tests/bench/test_bench_x.py", _runs("x.f", "u", better, base, new), 10.0
    )
    assert row.bench == "test_bench_x"
    assert row.change == pytest.approx(change)
    assert row.worse is worse


def test_a_figure_missing_on_one_side_is_shown_but_never_flagged():
    runs = {
        "base": [{"x.old": Figure("x.old", 1.0, "s", "lower")}],
        "new": [{"x.new": Figure("x.new", 2.0, "s", "lower")}],
    }
    rows = bench_compare.compare("test_bench_x.py", runs, 10.0)
    assert [(r.name, r.base, r.new, r.change, r.worse) for r in rows] == [
        ("x.new", None, 2.0, None, False),
        ("x.old", 1.0, None, None, False),
    ]


def test_table_aligns_columns_and_marks_regressions():
    runs = _runs("x.rate", "rows/s", "higher", [180_000], [150_000])
    text = bench_compare.table(bench_compare.compare("test_bench_x.py", runs, 10.0), 10.0)
    header, rule, row = text.splitlines()
    assert header.split() == ["benchmark", "figure", "unit", "base", "new", "change"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.split() == ["x", "x.rate", "rows/s", "180,000", "150,000", "-16.7%", "WORSE", ">10%"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "n/a"),
        (16.0, "16"),
        (153694.4, "153,694"),
        (357.7, "357.7"),
        (5.014, "5.01"),
        (0.2642, "0.264"),
    ],
)
def test_numbers_are_shown_to_a_useful_precision(value, shown):
    assert bench_compare._show(value) == shown
