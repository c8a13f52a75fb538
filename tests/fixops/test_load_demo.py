from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.findings.models import Application, Finding, Scan
from apps.tenants.models import Membership

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
    assert Application.objects.filter(tenant__slug="demo").count() == 2
    assert Scan.objects.filter(tenant__slug="demo", status="done").count() == 7
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
    assert Application.objects.filter(tenant__slug="demo").count() == 2
