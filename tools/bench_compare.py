#!/usr/bin/env python3
"""Compare the benchmarks of a base revision with the working tree, in one command.

    make bench-compare BASE=main~1 [BENCH="tests/bench/test_bench_ingest.py ..."] [RUNS=3]
    .venv/bin/python tools/bench_compare.py BASE [BENCH ...] [--runs 3] [--threshold 10]

The base revision is checked out in a git worktree under var/bench-compare/<commit> (created
on first use, reused afterwards); what it lacks and the working tree has among git-ignored
top-level entries (the virtualenv, .env) is symlinked into it, except var/, node_modules and
caches. Each benchmark file then runs alternately in the base worktree and in the working
tree, RUNS times each (base, new, base, new, ...), so a machine that slows down for a while
slows both sides. Every run is a fresh pytest process with the same interpreter (the one
running this tool), its own FIXOPS_TEST_DB (<FIXOPS_TEST_DB or test_fixops>_cmp_base or
_cmp_new, so the two schemas never share a database) and its tree first on PYTHONPATH.

Figures are read from `BENCH <name>=<value> unit=<unit> better=<higher|lower>` lines
(tests/bench/figures.py prints them). A revision from before those lines existed prints only
human-readable lines; LEGACY below reads the figures from those, under the same names. One
table follows: benchmark, figure, unit, base median, new median, change, and "WORSE" where
the new median is worse by more than the threshold (direction from `better`). Every run's
output is kept under var/bench-compare/logs/<time>/.

Exit status: 0; 1 with --strict when a figure is flagged; 2 when a run failed or a benchmark
printed no figures. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKTREES = Path("var") / "bench-compare"
PYTEST_ARGS = ("-p", "no:randomly", "-s", "-q", "-o", "addopts=", "--ds=fixops.settings.test")
NOT_LINKED = frozenset(
    {
        "var",
        "node_modules",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".hypothesis",
        ".import_linter_cache",
        "htmlcov",
        "coverage.xml",
    }
)
SIDES = ("base", "new")

_BENCH_LINE = re.compile(
    r"BENCH (?P<name>[\w.\-]+)=(?P<value>\S+)"
    r"(?: unit=(?P<unit>\S+))?(?: better=(?P<better>higher|lower))?"
)
_N = r"-?[\d,]*\d(?:\.\d+)?"  # a printed number: 1,234 / 0.5 / 12.25


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    better: str  # "higher" or "lower"


# How benchmarks printed their figures before they printed BENCH lines, by benchmark file:
# (pattern, {group: (figure name, unit, better)}); a name may use the pattern's other groups.
LEGACY: dict[str, list[tuple[str, dict[str, tuple[str, str, str]]]]] = {
    "test_bench_api_auth": [
        (
            rf"API auth: {_N} GET /api/v1/me/ per s \((?P<request>{_N}) ms each\); bare token "
            rf"SELECT baseline {_N} per s \((?P<select>{_N}) ms\); ratio (?P<ratio>{_N})x",
            {
                "request": ("api_auth.request", "ms", "lower"),
                "select": ("api_auth.select_baseline", "ms", "lower"),
                "ratio": ("api_auth.ratio", "x", "lower"),
            },
        )
    ],
    "test_bench_api_output": [
        (
            rf"(?P<page>\w+) \(50 rows\): (?P<base_name>\w+) (?P<base>{_N}) ms, (?P<name>\w+) "
            rf"(?P<ms>{_N}) ms \({_N}x\); the whole request (?P<request>{_N}) ms",
            {
                "base": ("{page}.{base_name}", "ms", "lower"),
                "ms": ("{page}.{name}", "ms", "lower"),
                "request": ("{page}.request", "ms", "lower"),
            },
        )
    ],
    "test_bench_decision": [
        (
            rf"(?P<n>\d+) open findings, \d+ decisions:[^\n]*\n"
            rf" +total +p50 +(?P<total_p50>{_N}) ms +p95 +(?P<total_p95>{_N}) ms\n"
            rf" +load +p50 +(?P<load_p50>{_N}) ms[^\n]*\n"
            rf" +enrich +p50 +(?P<enrich_p50>{_N}) ms[^\n]*\n"
            rf" +evaluate +p50 +(?P<evaluate_p50>{_N}) ms[^\n]*\n"
            rf" +persist +p50 +(?P<persist_p50>{_N}) ms[^\n]*\n"
            rf" +baseline \(read the same rows, one query\) median (?P<read_baseline>{_N}) ms",
            {
                group: (f"decision_{{n}}.{group}", "ms", "lower")
                for group in (
                    "total_p50",
                    "total_p95",
                    "load_p50",
                    "enrich_p50",
                    "evaluate_p50",
                    "persist_p50",
                    "read_baseline",
                )
            },
        ),
        (
            rf"input conversion (?P<conv>{_N}) ms, empty policy (?P<empty>{_N}) ms, default "
            rf"pack (?P<pack>{_N}) ms; converting all {_N} as detailed findings instead: "
            rf"(?P<all>{_N}) ms",
            {
                "conv": ("engine_floor.input_conversion", "ms", "lower"),
                "empty": ("engine_floor.empty_policy", "ms", "lower"),
                "pack": ("engine_floor.default_pack", "ms", "lower"),
                "all": ("engine_floor.convert_all_detailed", "ms", "lower"),
            },
        ),
    ],
    "test_bench_epss": [
        (
            rf"COPY baseline \(bare table\) +(?P<v>{_N}) rows/s",
            {"v": ("epss.copy_baseline", "rows/s", "higher")},
        ),
        (
            rf"read \+ validate only +(?P<v>{_N}) rows/s",
            {"v": ("epss.read_validate", "rows/s", "higher")},
        ),
        (
            rf"day 1 load \(all inserted\) +(?P<v>{_N}) rows/s",
            {"v": ("epss.day1_load", "rows/s", "higher")},
        ),
        (
            rf"day 2 load \(all changed\) +(?P<v>{_N}) rows/s",
            {"v": ("epss.day2_load", "rows/s", "higher")},
        ),
    ],
    "test_bench_evidence": [
        (
            rf"build\+sign\+encrypt\+store: (?P<v>{_N}) bundles/s",
            {"v": ("evidence.build", "bundles/s", "higher")},
        ),
        (
            rf"with one commit per decision: (?P<v>{_N}) bundles/s",
            {"v": ("evidence.build_commit_each", "bundles/s", "higher")},
        ),
        (
            rf"baseline Ed25519 sign only: (?P<sign>{_N})/s; "
            rf"fsynced write-once file only: (?P<write>{_N})/s",
            {
                "sign": ("evidence.sign_only_baseline", "signatures/s", "higher"),
                "write": ("evidence.write_only_baseline", "files/s", "higher"),
            },
        ),
        (
            rf"verify \(offline, DSSE \+ statement\): (?P<v>{_N}) bundles/s",
            {"v": ("evidence.verify_offline", "bundles/s", "higher")},
        ),
        (
            rf"verify via service \([^)\n]*\): (?P<v>{_N}) bundles/s",
            {"v": ("evidence.verify_service", "bundles/s", "higher")},
        ),
        (
            rf"envelope size: median (?P<v>{_N}) B",
            {"v": ("evidence.envelope_median", "B", "lower")},
        ),
    ],
    "test_bench_ingest": [
        (
            rf"COPY baseline +(?P<v>{_N}) rows/s",
            {"v": ("sarif_100k.copy_baseline", "rows/s", "higher")},
        ),
        (
            rf"first import +(?P<v>{_N}) results/s \({_N} s\), (?P<sql>\d+) SQL statements",
            {
                "v": ("sarif_100k.first_import", "results/s", "higher"),
                "sql": ("sarif_100k.first_import_sql", "statements", "lower"),
            },
        ),
        (
            rf"re-import 10% churn +(?P<v>{_N}) results/s \({_N} s\), (?P<sql>\d+) SQL statements",
            {
                "v": ("sarif_100k.reimport_churn", "results/s", "higher"),
                "sql": ("sarif_100k.reimport_churn_sql", "statements", "lower"),
            },
        ),
        (
            r"SQL statements for 1,000 results: (?P<v>\d+)",
            {"v": ("sarif_100k.small_import_sql", "statements", "lower")},
        ),
        (
            rf"peak RSS of the process: (?P<v>{_N}) MB",
            {"v": ("sarif_100k.peak_rss", "MB", "lower")},
        ),
        (
            rf"CycloneDX [^\n]*?: {_N} s, (?P<v>{_N}) findings/s, (?P<sql>\d+) SQL statements;"
            rf"[^\n]*peak RSS (?P<rss>{_N}) MB",
            {
                "v": ("cyclonedx_50k.import", "findings/s", "higher"),
                "sql": ("cyclonedx_50k.import_sql", "statements", "lower"),
                "rss": ("cyclonedx_50k.peak_rss", "MB", "lower"),
            },
        ),
    ],
    "test_bench_osv_match": [
        (
            rf"{label}: (?P<v>{_N}) s, (?P<sql>\d+) SQL statements",
            {
                "v": (f"osv.{name}", "s", "lower"),
                "sql": (f"osv.{name}_sql", "statements", "lower"),
            },
        )
        for label, name in (
            (r"load \(validate \+ store\)", "load"),
            (r"match \(first\)", "match_first"),
            (r"match \(again, nothing new\)", "match_again"),
            (r"re-match \d+ changed advisories", "rematch_changed"),
        )
    ],
    "test_bench_outbox": [
        (
            rf"baseline: direct GitLab creates, 1 process, no outbox: +(?P<v>{_N}) calls/s",
            {"v": ("outbox.direct_baseline", "calls/s", "higher")},
        ),
        (
            rf"backlog: +{_N} messages, \d+ workers: +(?P<v>{_N}) msg/s",
            {"v": ("outbox.backlog", "msg/s", "higher")},
        ),
        (
            rf"steady: [^\n]*all delivered after {_N} s: (?P<v>{_N}) msg/s",
            {"v": ("outbox.steady", "msg/s", "higher")},
        ),
        (
            rf"latency commit -> delivery: p50 (?P<p50>{_N}) s, p95 (?P<p95>{_N}) s",
            {
                "p50": ("outbox.latency_p50", "s", "lower"),
                "p95": ("outbox.latency_p95", "s", "lower"),
            },
        ),
    ],
    "test_bench_assign": [
        (
            rf"bulk-assign of 1,000 over the API: p50 (?P<p50>{_N}) ms, max {_N} ms, "
            rf"(?P<q>\d+) queries per request [^\n]*\?owner=<user> first page (?P<page>{_N}) ms",
            {
                "p50": ("bulk_assign_1000.p50", "ms", "lower"),
                "q": ("bulk_assign_1000.queries", "queries", "lower"),
                "page": ("owner_filter_page.user", "ms", "lower"),
            },
        )
    ],
    "test_bench_sla": [
        (
            rf"SLA, \d+ findings: policy update \(recompute all due_at\) (?P<update>{_N}) s; "
            rf"breach task (?P<task>{_N}) s announcing \d+, again {_N} s announcing \d+; "
            rf"\?sla=overdue first page p95 (?P<page>{_N}) ms; "
            rf"application compliance p95 (?P<comp>{_N}) ms",
            {
                "update": ("sla_policy_update_s", "s", "lower"),
                "task": ("sla_breach_task_s", "s", "lower"),
                "page": ("sla_overdue_page_p95_ms", "ms", "lower"),
                "comp": ("sla_compliance_p95_ms", "ms", "lower"),
            },
        )
    ],
    "test_bench_dashboard": [
        (
            rf"snapshot refresh \(the per-request cost without the summary table\) "
            rf"(?P<refresh>{_N}) s\s+analytics selectors \(summary \+ trends \+ sla\) p95 "
            rf"(?P<sel>{_N}) ms\s+admin index p95 over \d+ renders (?P<index>{_N}) ms "
            rf"\(median {_N} ms\); baseline, empty tenant, same run: p95 (?P<empty>{_N}) ms",
            {
                "refresh": ("dashboard_refresh_s", "s", "lower"),
                "sel": ("dashboard_selectors_p95_ms", "ms", "lower"),
                "index": ("dashboard_index_p95_ms", "ms", "lower"),
                "empty": ("dashboard_index_empty_p95_ms", "ms", "lower"),
            },
        )
    ],
    "test_bench_triage": [
        (
            rf"Triage list, \d+ findings: p95 of 20 renders: default (?P<default>{_N}) ms, "
            rf"kev_overdue (?P<kev>{_N}) ms, tool (?P<tool>{_N}) ms, "
            rf"has_ticket (?P<ticket>{_N}) ms, owner_none_critical (?P<owner>{_N}) ms; "
            rf"baseline \(selector first page alone\) (?P<base>{_N}) ms",
            {
                "default": ("triage_list.default_p95_ms", "ms", "lower"),
                "kev": ("triage_list.kev_overdue_p95_ms", "ms", "lower"),
                "tool": ("triage_list.tool_p95_ms", "ms", "lower"),
                "ticket": ("triage_list.has_ticket_p95_ms", "ms", "lower"),
                "owner": ("triage_list.owner_none_critical_p95_ms", "ms", "lower"),
                "base": ("triage_list.baseline_p95_ms", "ms", "lower"),
            },
        )
    ],
    "test_bench_reports": [
        (
            rf"Reports, \d+ findings in 20 applications: application document p95 "
            rf"(?P<app>{_N}) ms, tenant document p95 (?P<tenant>{_N}) ms; "
            rf"baseline application_sla p95 (?P<base>{_N}) ms; tenant report \(median\) as "
            rf"HTML {_N} ms, CSV {_N} ms, PDF (?P<pdf>{_N}) s",
            {
                "app": ("report_application_doc_p95_ms", "ms", "lower"),
                "tenant": ("report_tenant_doc_p95_ms", "ms", "lower"),
                "base": ("report_baseline_sla_p95_ms", "ms", "lower"),
                "pdf": ("report_tenant_pdf_s", "s", "lower"),
            },
        )
    ],
    "test_bench_scale": [
        (
            rf"generate_dataset: \d+ findings, \d+ rows in (?P<gen>{_N}) s",
            {"gen": ("scale_generate_s", "s", "lower")},
        ),
        (
            rf"(?P<name>(?:admin|api)_[a-z0-9_]+) +p50 +(?P<p50>{_N}) ms +p95 +(?P<p95>{_N}) ms",
            {
                "p50": ("scale_{name}_p50_ms", "ms", "lower"),
                "p95": ("scale_{name}_p95_ms", "ms", "lower"),
            },
        ),
    ],
    "test_bench_risk": [
        (
            rf"Re-scoring {_N} findings: {_N} s \((?P<v>{_N})/s\), (?P<sql>\d+) SQL statements; "
            rf"bare COPY\+UPDATE baseline (?P<base>{_N}) s; ratio (?P<ratio>{_N})x",
            {
                "v": ("risk.rescore", "findings/s", "higher"),
                "sql": ("risk.rescore_sql", "statements", "lower"),
                "base": ("risk.copy_update_baseline", "s", "lower"),
                "ratio": ("risk.ratio", "x", "lower"),
            },
        )
    ],
    "test_bench_advisory": [
        (
            rf"advisory question \(redact, fence, digest\): (?P<v>{_N}) ms",
            {"v": ("advisory.question", "ms", "lower")},
        ),
        (
            rf"advisory ask (?P<kind>\w+): (?P<ask>{_N}) ms per answer, (?P<tokens>\d+) tokens "
            rf"per question; bare POST baseline (?P<base>{_N}) ms",
            {
                "ask": ("advisory.ask_{kind}", "ms", "lower"),
                "base": ("advisory.ask_{kind}_baseline", "ms", "lower"),
                "tokens": ("advisory.tokens_{kind}", "tokens", "lower"),
            },
        ),
    ],
    "test_bench_advice": [
        (
            rf"consensus advice, 3 providers: (?P<v>{_N}) ms per finding \([^)\n]*\), "
            rf"(?P<tokens>{_N}) tokens per finding; baseline 3 bare asks (?P<base>{_N}) ms; "
            rf"ratio {_N}x; combine (?P<combine>{_N}) \u00b5s",
            {
                "v": ("advice.per_finding", "ms", "lower"),
                "base": ("advice.per_finding_baseline", "ms", "lower"),
                "tokens": ("advice.tokens_per_finding", "tokens", "lower"),
                "combine": ("advice.combine", "us", "lower"),
            },
        )
    ],
    "test_bench_hooks_verify": [
        (
            rf"(?P<kind>\w+): +(?P<v>{_N}) deliveries/s verified \+ parsed \([^)\n]*\); "
            rf"baseline HMAC \+ json\.loads (?P<base>{_N})/s",
            {
                "v": ("hooks_verify.{kind}", "per_s", "higher"),
                "base": ("hooks_verify.{kind}_baseline", "per_s", "higher"),
            },
        )
    ],
    "test_bench_inbound": [
        (
            rf"end to end: +(?P<v>{_N}) deliveries/s",
            {"v": ("inbound.throughput", "deliveries/s", "higher")},
        ),
        (
            rf"baseline, apply_changes alone: +(?P<v>{_N}) changes/s",
            {"v": ("inbound.baseline_apply", "changes/s", "higher")},
        ),
        (
            rf"close -> fixed p95 in seconds: (?P<v>{_N}) s",
            {"v": ("inbound.close_to_fixed_p95", "s", "lower")},
        ),
    ],
    "test_bench_reconcile": [
        (
            rf"baseline, no drift: (?P<v>{_N}) s",
            {"v": ("reconcile.baseline_seconds", "s", "lower")},
        ),
        (
            rf"run 1, (?P<drift>\d+) drifted: (?P<v>{_N}) s;",
            {
                "v": ("reconcile.drifted_run_seconds", "s", "lower"),
                "drift": ("reconcile.drift_found", "rows", "higher"),
            },
        ),
        (
            rf"run 2 \(idempotent\): (?P<v>{_N}) s",
            {"v": ("reconcile.idempotent_run_seconds", "s", "lower")},
        ),
        (
            rf"run 3: (?P<v>{_N}) s",
            {"v": ("reconcile.repair_run_seconds", "s", "lower")},
        ),
    ],
}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def parse_figures(output: str, bench: str) -> dict[str, Figure]:
    """The figures in one run's output: its BENCH lines, else the LEGACY lines of `bench`
    (a benchmark file's name or path). The last value printed under a name wins."""
    figures: dict[str, Figure] = {}
    for match in _BENCH_LINE.finditer(output):
        value = _number(match["value"])
        if value is not None:
            better = match["better"] or "lower"
            figures[match["name"]] = Figure(match["name"], value, match["unit"] or "", better)
    if figures:
        return figures
    for pattern, groups in LEGACY.get(Path(bench).stem, ()):
        for match in re.finditer(pattern, output):
            for group, (template, unit, better) in groups.items():
                value = _number(match[group])
                if value is not None:
                    name = template.format(**match.groupdict())
                    figures[name] = Figure(name, value, unit, better)
    return figures


@dataclass(frozen=True)
class Row:
    bench: str
    name: str
    unit: str
    base: float | None
    new: float | None
    change: float | None  # percent, new relative to base
    worse: bool


def compare(bench: str, runs: dict[str, list[dict[str, Figure]]], threshold: float) -> list[Row]:
    """One row per figure seen on either side: the medians and the change, flagged when the
    new median is worse than the base by more than `threshold` percent."""
    names: dict[str, Figure] = {}
    for side in ("new", "base"):
        for figures in runs.get(side, []):
            for name, figure in figures.items():
                names.setdefault(name, figure)
    rows = []
    for name, first in names.items():
        medians = {}
        for side in SIDES:
            values = [f[name].value for f in runs.get(side, []) if name in f]
            medians[side] = statistics.median(values) if values else None
        base, new = medians["base"], medians["new"]
        change = (new - base) / abs(base) * 100 if base and new is not None else None
        worse = change is not None and (
            change > threshold if first.better == "lower" else change < -threshold
        )
        rows.append(Row(Path(bench).stem, name, first.unit, base, new, change, worse))
    return rows


def _show(value: float | None) -> str:
    if value is None:
        return "n/a"
    size = abs(value)
    if float(value).is_integer() or size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def table(rows: list[Row], threshold: float) -> str:
    """The comparison as an aligned text table."""
    header = ("benchmark", "figure", "unit", "base", "new", "change", "")
    lines = [header]
    for row in rows:
        change = "n/a" if row.change is None else f"{row.change:+.1f}%"
        flag = f"WORSE >{threshold:g}%" if row.worse else ""
        bench = row.bench.removeprefix("test_bench_")
        lines.append((bench, row.name, row.unit, _show(row.base), _show(row.new), change, flag))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {3, 4, 5}
    out = []
    for line in lines:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(cells).rstrip())
    out.insert(1, "  ".join("-" * w for w in widths[:-1]))
    return "\n".join(out)


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - a developer's own git command line
        ["git", *args],  # noqa: S607 - git from PATH, as a developer runs it
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def worktree(rev: str) -> tuple[Path, str]:
    """A worktree of `rev` under var/bench-compare (reused when it exists) and its commit."""
    commit = _git(ROOT, "rev-parse", "--verify", f"{rev}^{{commit}}")
    path = ROOT / WORKTREES / commit[:12]
    if (path / ".git").exists():
        if _git(path, "rev-parse", "HEAD") != commit:
            raise SystemExit(f"{path} is not at {commit}; remove it with `git worktree remove`")
        if _git(path, "status", "--porcelain", "--untracked-files=no"):
            print(f"note: {path} has local changes; they are part of the base", file=sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(ROOT, "worktree", "prune")  # forget a worktree whose directory was deleted
        _git(ROOT, "worktree", "add", "--detach", str(path), commit)
    for name in _ignored_top_level():
        target = path / name
        if not target.exists() and not target.is_symlink():
            target.symlink_to(ROOT / name)
    return path, commit


def _ignored_top_level() -> list[str]:
    listed = _git(ROOT, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory")
    names = []
    for entry in listed.splitlines():
        name = entry.rstrip("/")
        if name and "/" not in name and name not in NOT_LINKED and not name.startswith(".cov"):
            names.append(name)
    return names


def run_bench(tree: Path, bench: str, side: str, log: Path) -> tuple[int, str]:
    """One pytest run of one benchmark file in `tree`; (exit status, output)."""
    env = dict(os.environ)
    prefix = env.get("FIXOPS_TEST_DB", "test_fixops")
    env["FIXOPS_TEST_DB"] = f"{prefix}_cmp_{side}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    done = subprocess.run(  # noqa: S603 - this interpreter running pytest on a named file
        [sys.executable, "-m", "pytest", bench, *PYTEST_ARGS],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    log.write_text(done.stdout)
    return done.returncode, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("base", help="the revision to compare against (a commit, branch, tag)")
    parser.add_argument("bench", nargs="*", help="benchmark files (default: tests/bench/*)")
    parser.add_argument("--runs", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--threshold", type=float, default=10.0, help="percent (default 10)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure is WORSE")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    benches = args.bench or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "bench").glob("test_bench_*.py")
    )
    base_tree, commit = worktree(args.base)
    trees = {"base": base_tree, "new": ROOT}
    logs = ROOT / WORKTREES / "logs" / time.strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    subject = _git(ROOT, "log", "-1", "--format=%s", commit)
    dirty = " + uncommitted changes" if _git(ROOT, "status", "--porcelain") else ""
    head = _git(ROOT, "rev-parse", "--short=12", "HEAD")
    print(f"base: {args.base} = {commit[:12]} {subject}")
    print(f"new:  working tree at {head}{dirty}")
    print(f"{args.runs} interleaved run(s) per side; medians; logs in {logs.relative_to(ROOT)}")

    failed = False
    rows: list[Row] = []
    for bench in benches:
        runs: dict[str, list[dict[str, Figure]]] = {side: [] for side in SIDES}
        for i in range(1, args.runs + 1):
            for side in SIDES:
                if not (trees[side] / bench).exists():
                    if i == 1:
                        print(f"  {bench} does not exist in {side}", file=sys.stderr)
                    continue
                log = logs / f"{Path(bench).stem}-{side}-{i}.txt"
                started = time.monotonic()
                status, output = run_bench(trees[side], bench, side, log)
                figures = parse_figures(output, bench)
                seconds = time.monotonic() - started
                print(
                    f"  {Path(bench).stem} {side} {i}/{args.runs}: {len(figures)} figures, "
                    f"{seconds:.0f} s" + (f", FAILED (exit {status}, see {log})" if status else ""),
                    file=sys.stderr,
                )
                if status or not figures:
                    failed = True
                if status == 0:
                    runs[side].append(figures)
        rows.extend(compare(bench, runs, args.threshold))
    print()
    print(table(rows, args.threshold))
    worse = [row for row in rows if row.worse]
    if worse:
        print(f"\n{len(worse)} figure(s) worse by more than {args.threshold:g}%: explain them.")
    if failed:
        print("\nsome runs failed or printed no figures; their logs are listed above.")
        return 2
    return 1 if worse and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
