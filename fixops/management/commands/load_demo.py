"""Create the demo tenant for `make run`: an admin, applications and a CI token.

Credentials are generated and printed once; nothing has a default password. Running it again
leaves an existing demo alone (and says how to get new credentials).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.findings.models import Criticality, DataClassification, Finding, FindingStatus
from apps.findings.services import application_create, finding_transition
from apps.intel.services import feed_refresh
from apps.pipeline.gate import decision_make
from apps.pipeline.ingest import scan_submit
from apps.tenants.roles import Role
from apps.tenants.selectors import tenant_get_by_slug
from apps.tenants.services import api_token_issue, membership_set, tenant_create

DEMO_APPLICATIONS = [
    {
        "name": "payments-api",
        "description": "Card payments service (demo).",
        "repo_url": "https://git.example.com/acme/payments-api",
        "criticality": Criticality.CRITICAL,
        "internet_exposed": True,
        "data_classification": DataClassification.RESTRICTED,
        "owners": ["payments-team@example.com"],
    },
    {
        "name": "intranet-portal",
        "description": "Employee portal (demo).",
        "repo_url": "https://git.example.com/acme/intranet-portal",
        "criticality": Criticality.MEDIUM,
        "internet_exposed": False,
        "data_classification": DataClassification.INTERNAL,
        "owners": ["it@example.com"],
    },
    {
        "name": "checkout-gateway",
        "description": "Java checkout gateway in front of payments (demo).",
        "repo_url": "https://git.example.com/acme/checkout-gateway",
        "criticality": Criticality.HIGH,
        "internet_exposed": True,
        "data_classification": DataClassification.CONFIDENTIAL,
        "owners": ["checkout-team@example.com"],
    },
]


DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
# (report, application, branch): two tools on one code base show cross-tool deduplication.
DEMO_SCANS = [
    ("semgrep.sarif", "payments-api", "main"),
    ("bandit.sarif", "payments-api", "main"),
    ("checkov-terraform.json", "payments-api", "main"),
    ("gitleaks.json", "payments-api", "main"),
    ("fs-demo-shop.json", "intranet-portal", "main"),
    ("dir-demo-shop.json", "intranet-portal", "main"),
    ("vex-osv-1.5.cdx.json", "intranet-portal", "main"),
    # Log4Shell and Spring4Shell: real KEV entries with real EPSS scores (demo README).
    ("image-checkout-gateway.json", "checkout-gateway", "main"),
]


class Command(BaseCommand):
    help = "Load the demo tenant (idempotent); prints generated credentials once."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--username", default="admin")
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args, tenant: str, username: str, base_url: str, **options):
        if tenant_get_by_slug(slug=tenant) is not None:
            self.stdout.write(
                f"Demo tenant {tenant!r} already loaded. New credentials: "
                f"`manage.py changepassword {username}` and "
                f"`manage.py issue_token --tenant {tenant} --name ci --role analyst`."
            )
            return
        password = secrets.token_urlsafe(18)
        user_model = get_user_model()
        with transaction.atomic():
            demo = tenant_create(slug=tenant, name="Demo Corp")
            user = user_model.objects.filter(username=username).first()
            if user is None:
                user = user_model.objects.create_superuser(username=username, password=password)
            else:
                password = ""
            membership_set(tenant=demo, user=user, role=Role.ADMIN)
            applications = {
                fields["name"]: application_create(tenant=demo, **fields)
                for fields in DEMO_APPLICATIONS
            }
            token = api_token_issue(tenant=demo, name="demo-ci", role=Role.ANALYST)
        # Real intel first (a CISA KEV sample, FIRST EPSS scores, PyPA OSV advisories), so the
        # demo's findings show KEV status, EPSS, SSVC outcomes and advisory matches.
        feed_refresh(name="kev", path=str(DEMO_DIR / "kev.json"))
        feed_refresh(name="epss", path=str(DEMO_DIR / "epss.csv"))
        feed_refresh(name="osv", path=str(DEMO_DIR / "osv"))
        imported = 0
        for filename, app_name, branch in DEMO_SCANS:
            path = DEMO_DIR / filename
            scan, _ = scan_submit(
                tenant=demo,
                application=applications[app_name],
                branch=branch,
                upload=SimpleUploadedFile(filename, path.read_bytes()),
                uploaded_by="load_demo",
            )
            imported += scan.counts.get("findings_new", 0)
        # An analyst's call: the portal's "token" is a revoked example in test fixtures. With it
        # marked, the portal's gate passes while the other two block (secrets; Log4Shell in KEV).
        for finding in Finding.objects.filter(
            tenant=demo, application=applications["intranet-portal"], kind="secret"
        ):
            finding_transition(
                tenant=demo,
                finding=finding,
                to_status=FindingStatus.FALSE_POSITIVE,
                actor="load_demo",
                reason="revoked example token in test fixtures (demo triage)",
            )
        # One gate decision per application, so the admin shows decisions with their evidence.
        outcomes = []
        for name, app in applications.items():
            decision = decision_make(tenant=demo, application=app, branch="main", actor="load_demo")
            outcomes.append(f"{name} {decision.outcome}")
        lines = [
            "",
            "=" * 72,
            f"FixOps demo tenant {tenant!r} is ready with {len(DEMO_SCANS)} sample scans and "
            f"{imported} findings; gate decisions: {', '.join(outcomes)}. "
            "These credentials are shown ONCE:",
            f"  admin:     {base_url}/admin/  user {username!r}"
            + (f"  password {password}" if password else "  (existing user, password unchanged)"),
            "             first sign-in: scan the QR code with an authenticator app (TOTP),"
            " keep the recovery codes (docs/identity.md)",
            f"  API token: {token.plaintext}",
            f"  try:       curl -H 'Authorization: Bearer <token>' {base_url}/api/v1/me/",
            "=" * 72,
            "",
        ]
        self.stdout.write("\n".join(lines))
