"""A realistic tenant for the browser tier, made the way FixOps makes one: the demo's reports
imported through the ingest flow after real feed loads, gate decisions with signed evidence,
then what people do over weeks (owners, comments, tickets, acceptances, the SLA clock
running out), plus one row of every admin page's model (tests/tenants/admin_pages.py).

Tasks that the flows start after commit (risk refresh, advisory matching, storing evidence)
run inline while seeding (`inline_tasks`), as the worker would run them, so nothing is left
queued in the worktree's filesystem broker.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.connectors.models import ExternalLink, Integration
from apps.findings import sla
from apps.findings.comments import comment_add
from apps.findings.models import Application, Finding, Scan, SlaPolicy
from apps.findings.owners import finding_assign_bulk, owner_choose
from apps.findings.services import application_create
from apps.intel.services import feed_refresh
from apps.pipeline.gate import decision_make
from apps.pipeline.ingest import scan_submit
from apps.policies import acceptances
from apps.policies.models import Decision, RiskAcceptance
from apps.tenants.models import Tenant
from apps.tenants.roles import Role
from apps.tenants.services import membership_set, tenant_create
from apps.tenants.teams import team_create
from fixops.celery import app as celery_app
from fixops.management.commands.load_demo import DEMO_APPLICATIONS, DEMO_DIR, DEMO_SCANS
from tests.intel.feedkit import epss_gz
from tests.tenants.admin_pages import SEEDERS
from tests.tenants.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
GITLEAKS = ROOT / "tests" / "fixtures" / "scans" / "sarif" / "real" / "gitleaks-7.4.0.sarif"
# Demo CVEs the seed adds to the KEV catalogue (the demo's own KEV sample names none of them
# today) and EPSS scores for the demo's CVEs: test data, written to a temporary folder.
KEV_EXTRA = ("CVE-2018-18074", "CVE-2023-32681", "CVE-2019-11324")
EPSS = {
    "CVE-2018-18074": "0.91200",
    "CVE-2023-32681": "0.62100",
    "CVE-2019-11324": "0.45300",
    "CVE-2020-28493": "0.03100",
    "CVE-2024-22195": "0.00210",
    "CVE-2023-43804": "0.01800",
}


@dataclass
class People:
    admin: object  # tenant admin, not a superuser
    analyst: object
    approver: object
    auditor: object  # GRC reviewer: the viewer role (read findings, decisions, evidence)
    root: object  # superuser


@dataclass
class Workspace:
    tenant: Tenant
    people: People
    applications: dict[str, Application]
    overdue_kev: Finding  # the analyst journey's finding: open, KEV, overdue, nobody's
    decision: Decision  # a gate decision with its stored, signed evidence bundle
    lost_scan: Scan
    rows: dict  # admin model label -> a row of it in the tenant (change pages, custom pages)


@contextmanager
def inline_tasks():
    """Run Celery tasks in the caller's process while the block runs, as the worker would."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = saved


def _staff(username: str, tenant: Tenant, role: str, **extra):
    user = UserFactory(username=username, is_staff=True, **extra)
    membership_set(tenant=tenant, user=user, role=role)
    return user


def _feeds(folder: Path) -> None:
    kev = json.loads((DEMO_DIR / "kev.json").read_text())
    for cve in KEV_EXTRA:
        kev["vulnerabilities"].append(
            {
                **kev["vulnerabilities"][0],
                "cveID": cve,
                "vulnerabilityName": f"{cve} (browser-test catalogue entry)",
                "dateAdded": "2024-01-10",
                "dueDate": "2024-01-31",
            }
        )
    kev["count"] = len(kev["vulnerabilities"])
    (folder / "kev.json").write_text(json.dumps(kev))
    (folder / "epss.csv.gz").write_bytes(
        epss_gz([(cve, score, "0.95000") for cve, score in EPSS.items()])
    )
    feed_refresh(name="kev", path=str(folder / "kev.json"))
    feed_refresh(name="epss", path=str(folder / "epss.csv.gz"))
    feed_refresh(name="osv", path=str(DEMO_DIR / "osv"))


def _submit(tenant, application, name: str, content: bytes, branch: str = "main") -> Scan:
    scan, _ = scan_submit(
        tenant=tenant,
        application=application,
        branch=branch,
        commit="9f2c1e7",
        upload=SimpleUploadedFile(name, content),
        uploaded_by="ci",
    )
    return scan


def _lost_results_scan(tenant, application) -> Scan:
    """The gitleaks report with two results that lost their message: nothing names their
    rule, so they are counted lost (tests/policies/test_lost_results.py)."""
    document = json.loads(GITLEAKS.read_text())
    for result in document["runs"][0]["results"][2:4]:
        result["message"] = {}
    return _submit(tenant, application, "gitleaks.sarif", json.dumps(document).encode(), "release")


def _sla_clock(tenant: Tenant) -> None:
    """Weeks pass: KEV findings overdue, some high ones due within two days."""
    policy = SlaPolicy.objects.create(tenant=tenant, kev_days=7, ssvc_days={"Act": 7})
    now = timezone.now()
    open_findings = Finding.objects.filter(tenant=tenant, status="open")
    open_findings.filter(kev=True).update(
        first_seen=now - timedelta(days=40), sla_started_at=now - timedelta(days=40)
    )
    for finding in open_findings.filter(kev=False, severity="high")[:3]:
        days = sla.deadline_days(
            policy, severity=finding.severity, kev=finding.kev, ssvc=finding.ssvc
        )
        started = now + timedelta(days=2) - timedelta(days=days)
        Finding.objects.filter(pk=finding.pk).update(first_seen=started, sla_started_at=started)
    sla.recompute(policy=policy)


def _people_work(tenant: Tenant, people: People, kev_finding: Finding) -> None:
    """Owners, a team, comments, a ticket, and acceptances pending and approved."""
    findings = list(
        Finding.objects.filter(tenant=tenant, status="open").exclude(pk=kev_finding.pk)[:12]
    )
    team = team_create(
        tenant=tenant, name="appsec", members=[people.analyst, people.admin], actor="user:tina"
    )
    finding_assign_bulk(
        tenant=tenant,
        finding_ids=[f.pk for f in findings[:4]],
        owner=owner_choose(tenant=tenant, me=people.analyst),
        actor="user:ana",
    )
    finding_assign_bulk(
        tenant=tenant,
        finding_ids=[f.pk for f in findings[4:7]],
        owner=owner_choose(tenant=tenant, team_id=team.pk),
        actor="user:tina",
    )
    comment_add(
        tenant=tenant,
        finding=kev_finding,
        body="Exploited in the wild per CISA; upgrade before the release freeze.",
        actor="user:tina",
        author=people.admin,
    )
    comment_add(
        tenant=tenant,
        finding=findings[0],
        body="Reproduced on staging; fix in review.",
        actor="user:ana",
        author=people.analyst,
    )
    jira = Integration(
        tenant=tenant, kind="jira", name="Jira (engineering)", base_url="https://jira.example.com"
    )
    jira.credentials = {"email": "fixops@example.com", "token": "not-a-real-token"}
    jira.save()
    ExternalLink.objects.create(
        tenant=tenant,
        integration=jira,
        reference=f"fixops-finding-{findings[0].pk}",
        finding=findings[0],
        remote_id="10042",
        remote_key="SEC-42",
        remote_url="https://jira.example.com/browse/SEC-42",
        remote_status="In Progress",
    )
    expires = timezone.now() + timedelta(days=30)
    pending = findings[7]
    acceptances.acceptance_request(
        tenant=tenant,
        user=people.analyst,
        actor="user:ana",
        scope="finding",
        finding=pending,
        justification="Compensating WAF rule in place until the Q3 upgrade.",
        expires_at=expires,
    )
    approved = acceptances.acceptance_request(
        tenant=tenant,
        user=people.analyst,
        actor="user:ana",
        scope="finding",
        finding=findings[8],
        justification="Test-only dependency; not shipped.",
        expires_at=expires,
    )
    acceptances.acceptance_approve(acceptance=approved, user=people.approver, actor="user:april")


def _every_admin_model(tenant: Tenant) -> dict:
    """One row of every walked admin model (their own names, tag "sample"), except the SLA
    policy, which the seed set above (one per tenant); plus the beat schedules."""
    call_command("sync_schedules", stdout=StringIO())
    rows = {"tenants.Tenant": tenant, "findings.SlaPolicy": sla.policy_for(tenant.pk)}
    for label, make in SEEDERS.items():
        if label not in rows:
            rows[label] = make(tenant, "sample")
    return rows


def seed_workspace(folder: Path, slug: str = "northwind") -> Workspace:
    """The realistic tenant; `folder` holds the feed files it writes."""
    with inline_tasks():
        tenant = tenant_create(slug=slug, name="Northwind Traders")
        people = People(
            admin=_staff("tina", tenant, Role.ADMIN),
            analyst=_staff("ana", tenant, Role.ANALYST),
            approver=_staff("april", tenant, Role.APPROVER),
            auditor=_staff("grc", tenant, Role.VIEWER),
            root=_staff("root", tenant, Role.ADMIN, is_superuser=True),
        )
        _feeds(folder)
        applications = {
            fields["name"]: application_create(tenant=tenant, **fields)
            for fields in DEMO_APPLICATIONS
        }
        for filename, app_name, branch in DEMO_SCANS:
            content = (DEMO_DIR / filename).read_bytes()
            _submit(tenant, applications[app_name], filename, content, branch)
        lost = _lost_results_scan(tenant, applications["payments-api"])
        _sla_clock(tenant)
        kev_finding = (
            Finding.objects.filter(tenant=tenant, status="open", kev=True)
            .order_by("-risk_score", "pk")
            .first()
        )
        assert kev_finding is not None, "the seed's KEV catalogue matches no demo finding"
        _people_work(tenant, people, kev_finding)
        decision = None
        for application in applications.values():
            made = decision_make(
                tenant=tenant, application=application, branch="main", actor="ci", commit="9f2c1e7"
            )
            decision = decision or made
        rows = _every_admin_model(tenant)
    kev_finding.refresh_from_db()
    return Workspace(tenant, people, applications, kev_finding, decision, lost, rows)


def due_state(finding: Finding) -> str:
    """overdue / due_soon / on_time, read from the stored due_at (for assertions)."""
    if finding.due_at is None:
        return "none"
    now = timezone.now()
    if finding.due_at <= now:
        return "overdue"
    return "due_soon" if finding.due_at <= now + timedelta(days=3) else "on_time"


def acceptance_requested_for(finding: Finding) -> RiskAcceptance | None:
    return (
        RiskAcceptance.objects.filter(finding=finding, status="requested").order_by("-pk").first()
    )


ACTIVE_SQL = "('open', 'triaged', 'in_progress', 'reopened')"  # apps/findings/lifecycle.ACTIVE


def sql_counts(tenant: Tenant, due_soon_days: int = 3) -> dict[str, int]:
    """The dashboard's headline numbers counted in plain SQL, independently of the selectors
    the dashboard and the analytics API share (the issue's measure: all three agree)."""
    query = f"""
        SELECT
          count(*) FILTER (WHERE severity = 'critical'),
          count(*) FILTER (WHERE severity = 'high'),
          count(*) FILTER (WHERE severity = 'medium'),
          count(*) FILTER (WHERE severity = 'low'),
          count(*) FILTER (WHERE kev),
          count(*) FILTER (WHERE due_at <= now()),
          count(*) FILTER (WHERE due_at > now() AND due_at <= now() + %s * interval '1 day')
        FROM findings_finding WHERE tenant_id = %s AND status IN {ACTIVE_SQL}
    """  # noqa: S608 - a constant list, values bound
    with connection.cursor() as cursor:
        cursor.execute(query, [due_soon_days, tenant.pk])
        row = cursor.fetchone()
    names = ("critical", "high", "medium", "low", "kev", "overdue", "due_soon")
    return dict(zip(names, row, strict=True))
