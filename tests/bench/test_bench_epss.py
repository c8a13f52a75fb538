"""EPSS load throughput on PostgreSQL against a COPY baseline measured in the same run.

Target (issue 4): loading a full-size EPSS file (300,000 rows, the real format: gzip, comment
line, header, string numbers) in under 20 s and within 3x of a bare COPY of the same rows.
Two loads are timed: day 1 into an empty table (every row inserted) and day 2 with every
score changed (every row updated), with 10,000 findings on CVEs of the file so the history,
event and change-detection queries have work to do. The timed part is the loader
(read, validate, stage, upsert, history, events); re-scoring is apps.intel.risk's benchmark.
"""

from __future__ import annotations

import gzip
import random
import time
from pathlib import Path

import pytest
from django.db import connection

from apps.findings.models import Finding
from apps.intel.feeds.epss import epss_load, epss_parse
from apps.intel.models import EpssHistory, Vulnerability
from tests.bench.figures import figure
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 300_000
FINDINGS = 10_000


def _cves(n: int) -> list[str]:
    """Real-looking ids: years 1999-2026, 4 to 7 digit sequence numbers."""
    rng = random.Random(7)
    ids: set[str] = set()
    while len(ids) < n:
        year = rng.randint(1999, 2026)
        ids.add(f"CVE-{year}-{rng.choice([rng.randint(1, 9999), rng.randint(10000, 9999999)]):04d}")
    return sorted(ids)


def _epss_file(path: Path, cves: list[str], *, day: str, seed: int) -> Path:
    rng = random.Random(seed)
    lines = [f"#model_version:v2025.03.14,score_date:{day}T00:00:00+0000", "cve,epss,percentile"]
    for cve in cves:
        # Heavy-tailed like the real distribution: most scores are tiny.
        score = min(1.0, rng.paretovariate(1.2) * 0.0004)
        lines.append(f"{cve},{score:.5f},{rng.random():.5f}")
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=6))
    return path


def _copy_baseline(rows: list[tuple[str, float, float]]) -> float:
    """COPY the same rows into a bare table: the floor for any bulk load."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_epss_copy (cve varchar(64), epss double precision, "
            "percentile double precision)"
        )
        try:
            with cursor.copy("COPY bench_epss_copy (cve, epss, percentile) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            elapsed = time.perf_counter() - started
        finally:
            cursor.execute("DROP TABLE bench_epss_copy")
    return elapsed


def _findings(cves: list[str]) -> None:
    tenant = TenantFactory(slug="bench-epss")
    app = ApplicationFactory(tenant=tenant, name="bench")
    picked = random.Random(3).sample(cves, FINDINGS)
    Finding.objects.bulk_create(
        [
            Finding(
                tenant=tenant,
                application=app,
                dedup_key=f"{i:064x}",
                dedup_strategy="vuln",
                kind="sca",
                severity="high",
                tool="trivy",
                rule_id=cve,
                title=cve,
                vuln_id=cve,
            )
            for i, cve in enumerate(picked)
        ],
        batch_size=2_000,
    )


def test_bench_epss_300k(tmp_path):
    cves = _cves(ROWS)
    day1 = _epss_file(tmp_path / "epss_scores-2026-04-10.csv.gz", cves, day="2026-04-10", seed=1)
    day2 = _epss_file(tmp_path / "epss_scores-2026-04-11.csv.gz", cves, day="2026-04-11", seed=2)
    _findings(cves)

    started = time.perf_counter()
    parsed = epss_parse(day1)
    parse_s = time.perf_counter() - started
    baseline = _copy_baseline(parsed.rows)

    started = time.perf_counter()
    first = epss_load(day1, announce=False)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = epss_load(day2)
    second_s = time.perf_counter() - started

    size_mb = day1.stat().st_size / 1e6
    print(f"\nEPSS {ROWS:,} rows ({size_mb:.1f} MB gzip), {FINDINGS:,} findings on its CVEs:")
    print(f"  COPY baseline (bare table)   {ROWS / baseline:>9,.0f} rows/s ({baseline:.2f} s)")
    print(f"  read + validate only         {ROWS / parse_s:>9,.0f} rows/s ({parse_s:.2f} s)")
    print(
        f"  day 1 load (all inserted)    {ROWS / first_s:>9,.0f} rows/s ({first_s:.2f} s), "
        f"{first_s / baseline:.1f}x COPY"
    )
    print(
        f"  day 2 load (all changed)     {ROWS / second_s:>9,.0f} rows/s ({second_s:.2f} s), "
        f"{second_s / baseline:.1f}x COPY; {second.events:,} threshold events, "
        f"{len(second.changed):,} CVEs to re-score"
    )
    figure("epss.copy_baseline", ROWS / baseline, "rows/s", better="higher")
    figure("epss.read_validate", ROWS / parse_s, "rows/s", better="higher")
    figure("epss.day1_load", ROWS / first_s, "rows/s", better="higher")
    figure("epss.day2_load", ROWS / second_s, "rows/s", better="higher")
    assert first.row_count == second.row_count == ROWS
    assert Vulnerability.objects.filter(epss_score__isnull=False).count() == ROWS
    assert EpssHistory.objects.count() == 2 * FINDINGS
