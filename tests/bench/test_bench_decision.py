"""Gate latency (issue 5 targets: p95 under 300 ms with 10,000 open findings, under 50 ms with
1,000), over 200 decisions each, with the cost split: load (policy lookup), enrich (the input
document: one query over the open findings, acceptances, SLA, summary, candidates), evaluate
(rego-cpp), persist (decision row + scans + evidence + outbox in one transaction).

Baseline, in the same run: reading the same findings' columns with one values_list query,
the floor any gate that looks at every open finding pays.
"""

from __future__ import annotations

import os
import random
import statistics
import time

import pytest
from django.utils import timezone

from apps.findings.models import Finding
from apps.pipeline.gate import decision_make
from apps.policies.inputs import _COLUMNS, SLA_START_SECONDS
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)
RUNS = int(os.environ.get("BENCH_DECISIONS", "200"))
SEVERITIES = ["critical"] * 5 + ["high"] * 20 + ["medium"] * 40 + ["low"] * 30 + ["info"] * 5
KINDS = ["sca"] * 60 + ["sast"] * 30 + ["iac"] * 9 + ["secret"]
SSVC = [""] * 80 + ["Track"] * 15 + ["Track*"] * 3 + ["Attend"] * 2


def _findings(tenant, app, n: int) -> None:
    rng = random.Random(n)
    now = timezone.now()
    rows = []
    for i in range(n):
        kind = rng.choice(KINDS)
        rows.append(
            Finding(
                tenant=tenant,
                application=app,
                dedup_key=f"{i:064d}",
                dedup_strategy="fallback",
                kind=kind,
                severity=rng.choice(SEVERITIES),
                tool="trivy" if kind == "sca" else "semgrep",
                rule_id=f"rule-{i % 300}",
                title=f"finding {i}",
                vuln_id=f"CVE-2024-{i:05d}" if kind == "sca" else "",
                path=f"src/module_{i % 500}.py",
                component_purl=f"pkg:pypi/lib{i % 800}@1.{i % 9}" if kind == "sca" else "",
                epss=rng.random() ** 23
                if kind == "sca"
                else None,  # ~3% at 0.5 or more, as FIRST reports
                kev=kind == "sca" and rng.random() < 0.01,
                ssvc=rng.choice(SSVC) if kind == "sca" else "",
                risk_score=rng.random() * 10,
                first_seen=now - timezone.timedelta(days=rng.randint(0, 400)),
            )
        )
    Finding.objects.bulk_create(rows, batch_size=5000)


def _pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@pytest.mark.parametrize("n", [1_000, 10_000])
def test_bench_decision_latency(n):
    tenant = TenantFactory(slug=f"bench-gate-{n}")
    app = ApplicationFactory(tenant=tenant, internet_exposed=True)
    _findings(tenant, app, n)
    decision_make(tenant=tenant, application=app)  # warm: compile cache, connection

    floor = []
    for _ in range(20):
        started = time.perf_counter()
        rows = list(
            Finding.objects.filter(application=app)
            .order_by()
            .annotate(sla_start_s=SLA_START_SECONDS)
            .values_list(*_COLUMNS)
        )
        floor.append((time.perf_counter() - started) * 1000)
    assert len(rows) == n

    totals, parts = [], {"load": [], "enrich": [], "evaluate": [], "persist": []}
    for _ in range(RUNS):
        started = time.perf_counter()
        decision = decision_make(tenant=tenant, application=app, commit="c", branch="main")
        totals.append((time.perf_counter() - started) * 1000)
        for key, values in parts.items():
            values.append(decision.timings_ms[key])
    size = len(str(decision.input))
    print(
        f"\n{n} open findings, {RUNS} decisions: outcome {decision.outcome}, "
        f"{decision.counts['in_input']} findings in the input ({decision.counts['omitted']} "
        f"omitted by the candidate filter), input ~{size // 1024} KiB\n"
        f"  total    p50 {_pct(totals, 0.5):7.1f} ms   p95 {_pct(totals, 0.95):7.1f} ms\n"
        + "".join(
            f"  {key:8} p50 {_pct(v, 0.5):7.1f} ms   p95 {_pct(v, 0.95):7.1f} ms\n"
            for key, v in parts.items()
        )
        + f"  baseline (read the same rows, one query) median {statistics.median(floor):.1f} ms; "
        f"gate p50 = {_pct(totals, 0.5) / statistics.median(floor):.1f}x baseline"
    )
    figure(f"decision_{n}.total_p50", _pct(totals, 0.5), "ms", better="lower")
    figure(f"decision_{n}.total_p95", _pct(totals, 0.95), "ms", better="lower")
    for key, values in parts.items():
        figure(f"decision_{n}.{key}_p50", _pct(values, 0.5), "ms", better="lower")
    figure(f"decision_{n}.read_baseline", statistics.median(floor), "ms", better="lower")


def test_bench_engine_floor():
    """Where evaluation time goes at 1,000 findings (no database): converting the input for
    rego-cpp, an empty policy (conversion + query), and the default pack."""
    from regopy import Input

    from apps.policies import engine
    from apps.policies.profiles import policy_view
    from apps.policies.services import pack
    from tests.policies.documents import document, finding

    rng = random.Random(1)
    findings = [
        finding(
            kind=rng.choice(KINDS),
            severity=rng.choice(SEVERITIES),
            kev=rng.random() < 0.01,
            ssvc=rng.choice(SSVC),
            past_sla=rng.random() < 0.5,
            epss=rng.random() ** 23,
        )
        for _ in range(1000)
    ]
    doc = document(*findings, exposed=True)
    source, parameters = pack()
    empty = (
        "package fixops.gate\n\nimport rego.v1\n\ndeny := set()\nreview := set()\nwarn := set()\n"
    )
    view = policy_view(doc)

    def per_call(fn, n=50):
        fn()
        started = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - started) / n * 1000

    convert = per_call(lambda: Input(view))
    every = policy_view(document(*findings, exposed=True, filt={"all": True}))
    convert_all = per_call(lambda: Input(every), n=10)
    bare = per_call(lambda: engine.compile_policy(empty, parameters).evaluate(doc))
    full = per_call(lambda: engine.compile_policy(source, parameters).evaluate(doc))
    print(
        f"\n1,000 findings -> {len(doc['profiles'])} profiles, {len(doc['findings'])} detailed: "
        f"input conversion {convert:.1f} ms, empty policy {bare:.1f} ms, "
        f"default pack {full:.1f} ms; converting all 1,000 as detailed findings instead: "
        f"{convert_all:.1f} ms"
    )
    figure("engine_floor.input_conversion", convert, "ms", better="lower")
    figure("engine_floor.empty_policy", bare, "ms", better="lower")
    figure("engine_floor.default_pack", full, "ms", better="lower")
    figure("engine_floor.convert_all_detailed", convert_all, "ms", better="lower")
