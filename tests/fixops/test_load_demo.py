import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.findings.models import Application, Finding, Scan
from apps.policies.models import Decision
from apps.tenants.models import Membership
from fixops.management.commands import load_demo

pytestmark = pytest.mark.django_db


def test_demo_prints_working_credentials_once():
    out = StringIO()
    call_command("load_demo", stdout=out)
    text = out.getvalue()
    password = text.split("password ")[1].split()[0]
    token = text.split("API token: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert Membership.objects.get(user=admin).role == "admin"
    assert Application.objects.filter(tenant__slug="demo").count() == 3
    assert Scan.objects.filter(tenant__slug="demo", status="done").count() == 8
    portal = Finding.objects.filter(application__name="intranet-portal")
    # trivy and grype report the same advisories: one finding, two occurrences
    assert portal.filter(occurrences__tool="trivy").filter(occurrences__tool="grype").exists()
    assert "sample scans" in text
    # the demo SBOM (requests 2.19, jinja2 2.10, django 3.2) matches the bundled advisories
    assert Finding.objects.filter(
        application__name="intranet-portal", occurrences__tool="osv"
    ).exists()
    assert not Finding.objects.filter(tenant__slug="demo", risk_score__isnull=True).exists()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me/").json()["tenant"]["slug"] == "demo"

    again = StringIO()
    call_command("load_demo", stdout=again)
    assert "already loaded" in again.getvalue()
    assert password not in again.getvalue() and "fxo_" not in again.getvalue()
    assert Application.objects.filter(tenant__slug="demo").count() == 3


def test_demo_shows_real_kev_and_epss_signal():
    """The bundled samples are real (fixops/demo/README.md): Log4Shell and Spring4Shell are in
    CISA's KEV, FIRST's EPSS scores them, and the gate blocks the exposed service for it."""
    call_command("load_demo", stdout=StringIO())
    demo = Finding.objects.filter(tenant__slug="demo")
    log4shell = demo.get(vuln_id="CVE-2021-44228")
    assert log4shell.kev and log4shell.epss == pytest.approx(0.94465)
    assert demo.get(vuln_id="CVE-2022-22965").kev
    assert demo.get(vuln_id="CVE-2022-40897").epss == pytest.approx(0.00135)  # setuptools 65.5.0
    assert demo.filter(kev=True).count() >= 3 and demo.filter(epss__isnull=False).count() >= 6
    outcomes = {d.application.name: d for d in Decision.objects.filter(tenant__slug="demo")}
    assert {name: d.outcome for name, d in outcomes.items()} == {
        "payments-api": "BLOCK",  # leaked secrets
        "checkout-gateway": "BLOCK",  # KEV in an internet-exposed service
        "intranet-portal": "ALLOW",  # its one secret triaged a false positive
    }
    rules = {r["rule"] for r in outcomes["checkout-gateway"].reasons}
    assert "FX-KEV-EXPOSED" in rules


def test_demo_data_is_self_contained_and_only_what_the_demo_uses():
    """Everything the demo loads is in the repository, with its licence; the EPSS and KEV
    samples hold the demo's CVEs (KEV: plus the catalog's 30 newest entries)."""
    demo_dir = Path(load_demo.__file__).resolve().parents[2] / "demo"
    for name in ("NOTICE.md", "KEV-LICENSE.txt", "osv/LICENSE", "epss.csv", "kev.json"):
        assert (demo_dir / name).is_file(), name
    source = Path(load_demo.__file__).read_text()
    assert "/work/" not in source and "shared" not in source
    reports = "".join(
        (demo_dir / name).read_text() for name, _, _ in load_demo.DEMO_SCANS
    ) + "".join(p.read_text() for p in (demo_dir / "osv").glob("*.json"))
    demo_cves = set(re.findall(r"CVE-\d{4}-\d+", reports))
    epss = (demo_dir / "epss.csv").read_text().splitlines()
    assert epss[0].startswith("#score_date:2026-04-23")
    assert {line.split(",")[0] for line in epss[2:]} <= demo_cves
    kev = {v["cveID"] for v in json.loads((demo_dir / "kev.json").read_text())["vulnerabilities"]}
    assert {"CVE-2021-44228", "CVE-2021-45046", "CVE-2022-22965"} <= kev & demo_cves
