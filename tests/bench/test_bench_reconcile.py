"""Reconciliation over 10,000 linked tickets at a fake Jira Cloud on 127.0.0.1 (issue 16).

- baseline, same run: the same walk with no drift (10,000 links read back in bulk fetches of
  100, compared, nothing written) — what reading the vendor and comparing costs.
- drifted: 3% of the tickets closed at the vendor (finding still open), 1% deleted at the
  vendor, 2% of the findings closed in FixOps behind the outbox's back (ticket still open).
  Run 1 finds and repairs: closed tickets fix their findings through inbound.apply, deleted
  tickets lose their link, the closes are queued. Run 2 at once: idempotent (nothing new).
  Then the outbox delivers the closes, a sync opens new tickets for the deleted ones, and run
  3 marks every remaining drift repaired.

Pacing: the test settings pause 0 s between vendor calls; production's default
FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS (0.2 s) adds (calls - 1) x 0.2 s, printed beside.
"""

from __future__ import annotations

import random
import time

import pytest
from django.conf import settings
from django.utils import timezone

from apps.connectors import drain
from apps.connectors.models import Drift, ExternalLink, OutboxMessage
from apps.connectors.reconcile import reconcile_integration
from apps.connectors.services import integration_create, integration_sync
from apps.findings.models import Finding
from tests.bench.figures import figure
from tests.fakes.jira import STATUSES, FakeJira
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db

N = 10_000
CLOSED_AT_VENDOR, DELETED, CLOSED_HERE = 0.03, 0.01, 0.02


def _seed(tenant, fake: FakeJira, integration) -> list[int]:
    """N active findings, each with an issue at the fake and a link (no HTTP: bulk rows)."""
    app = ApplicationFactory(tenant=tenant)
    now = timezone.now()
    findings = Finding.objects.bulk_create(
        [
            Finding(
                tenant=tenant,
                application=app,
                dedup_key=f"{i:064x}",
                dedup_strategy="fallback",
                kind="sast",
                severity="high",
                tool="semgrep",
                rule_id=f"rule-{i % 50}",
                title=f"finding {i}",
                first_seen=now,
            )
            for i in range(N)
        ],
        batch_size=5000,
    )
    links = []
    with fake.lock:
        for n, finding in enumerate(findings, start=1):
            key, issue_id = f"SEC-{n}", str(10000 + n)
            fake.state["issues"][key] = {
                "id": issue_id,
                "key": key,
                "fields": {
                    "summary": finding.title,
                    "labels": [f"fixops-f-{finding.pk}"],
                    "status": dict(STATUSES["To Do"]),
                },
                "comments": [],
                "created": time.monotonic() - 3600,
                "transitions": [],
            }
            links.append(
                ExternalLink(
                    tenant=tenant,
                    integration=integration,
                    reference=f"fixops-f-{finding.pk}",
                    finding_id=finding.pk,
                    remote_id=issue_id,
                    remote_key=key,
                    remote_status="To Do",
                    state="open",
                )
            )
        fake.state["next_id"] = 10000 + N + 1
        fake.state["next_number"] = N + 1
    ExternalLink.objects.bulk_create(links, batch_size=5000)
    return [f.pk for f in findings]


def _run(integration) -> tuple[float, object]:
    started = time.perf_counter()
    stats = reconcile_integration(integration)
    return time.perf_counter() - started, stats


def test_bench_reconcile_10k():
    tenant = TenantFactory(slug="bench-reconcile")
    with FakeJira(deployment="cloud") as fake:
        cfg = fake.config()
        jira = integration_create(
            tenant=tenant,
            kind="jira",
            name="bench jira",
            base_url=cfg["base_url"],
            credentials=cfg["credentials"],
            settings=cfg["settings"],
            min_severity="high",
        )
        finding_ids = _seed(tenant, fake, jira)

        fake.requests.clear()
        base_seconds, base = _run(jira)
        calls = len(fake.requests_to("POST", r"/rest/api/3/issue/bulkfetch"))
        assert base.reads == N and base.detected == {} and not Drift.objects.exists()

        rng = random.Random(16)
        picked = rng.sample(range(N), int(N * (CLOSED_AT_VENDOR + DELETED + CLOSED_HERE)))
        n_closed, n_deleted = int(N * CLOSED_AT_VENDOR), int(N * DELETED)
        closed_at_vendor = picked[:n_closed]
        deleted = picked[n_closed : n_closed + n_deleted]
        closed_here = picked[n_closed + n_deleted :]
        for i in closed_at_vendor:
            fake.vendor_set_status(f"SEC-{i + 1}", "Done", "Done")
        for i in deleted:
            fake.vendor_delete(f"SEC-{i + 1}")
        Finding.objects.filter(pk__in=[finding_ids[i] for i in closed_here]).update(status="fixed")

        run1_seconds, run1 = _run(jira)
        run2_seconds, run2 = _run(jira)
        assert run1.detected == {
            "ticket_closed_finding_open": len(closed_at_vendor),
            "ticket_deleted": len(deleted),
            "finding_closed_ticket_open": len(closed_here),
        }
        fixed = Finding.objects.filter(
            pk__in=[finding_ids[i] for i in closed_at_vendor], status="fixed"
        ).count()
        assert fixed == len(closed_at_vendor)
        assert run2.detected == {}
        assert OutboxMessage.objects.filter(kind="transition").count() == len(closed_here)

        started = time.perf_counter()
        drain.drain(budget_seconds=600)
        integration_sync(integration=jira, budget_seconds=600)
        deliver_seconds = time.perf_counter() - started
        run3_seconds, run3 = _run(jira)
        open_after = Drift.objects.filter(repaired_at__isnull=True).count()
        assert open_after == 0, run3.as_dict()

    drifted = sum(run1.detected.values())
    pause = settings.FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS
    print(
        f"\nreconcile {N} linked tickets (fake Jira Cloud, bulk fetch of 100, {calls} calls):"
        f"\n  baseline, no drift: {base_seconds:.2f} s ({N / base_seconds:.0f} links/s)"
        f"\n  run 1, {drifted} drifted: {run1_seconds:.2f} s; detected {run1.detected};"
        f" repaired at once {run1.repaired}"
        f"\n  run 2 (idempotent): {run2_seconds:.2f} s, detected {run2.detected}"
        f"\n  outbox closes + sync re-creates: {deliver_seconds:.2f} s;"
        f" run 3: {run3_seconds:.2f} s, repaired {run3.repaired}, open drift left {open_after}"
        f"\n  pacing at the production default 0.2 s/call would add {(calls - 1) * 0.2:.1f} s"
        f" (this run: {pause} s)"
    )
    figure("reconcile.baseline_seconds", base_seconds, "s", better="lower")
    figure("reconcile.drifted_run_seconds", run1_seconds, "s", better="lower")
    figure("reconcile.idempotent_run_seconds", run2_seconds, "s", better="lower")
    figure("reconcile.repair_run_seconds", run3_seconds, "s", better="lower")
    figure("reconcile.drift_found", drifted, "rows", better="higher")
