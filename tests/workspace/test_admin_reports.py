"""The reports in the admin: buttons on an application's page, the applications list and a
tenant's page; each answers the document in its format, for the tenant the user acts in."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff(tenant, role: str = "viewer", **extra) -> Client:
    user = UserFactory(username=f"staff-{role}", is_staff=True, **extra)
    if tenant is not None:
        MembershipFactory(user=user, tenant=tenant, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_application_page_has_report_buttons_that_download(seeded, acme):
    app = seeded["payments"]
    client = staff(acme)
    page = client.get(reverse("admin:findings_application_change", args=[app.pk]))
    assert page.status_code == 200
    pdf_url = reverse("admin:workspace_report_application", args=[app.pk, "pdf"])
    buttons = page.content.decode()
    assert pdf_url in buttons
    assert reverse("admin:workspace_report_application", args=[app.pk, "csv"]) in buttons
    response = client.get(pdf_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"].startswith('attachment; filename="fixops-report-acme-')
    html = client.get(reverse("admin:workspace_report_application", args=[app.pk, "html"]))
    assert b"<h1>Security report: payments</h1>" in html.content


def test_application_list_links_the_tenant_report(seeded, acme):
    client = staff(acme)
    page = client.get(reverse("admin:findings_application_changelist")).content.decode()
    url = reverse("admin:workspace_report_current", args=["pdf"])
    assert url in page
    response = client.get(url)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    csv_body = client.get(reverse("admin:workspace_report_current", args=["csv"])).content
    assert b"summary,report,tenant" in csv_body and b"globex-secret" not in csv_body


def test_tenant_page_has_report_buttons(seeded, acme):
    client = staff(acme, role="admin")
    page = client.get(reverse("admin:tenants_tenant_change", args=[acme.pk])).content.decode()
    url = reverse("admin:workspace_report_tenant", args=[acme.pk, "html"])
    assert url in page
    assert b"Riskiest applications" in client.get(url).content


def test_another_tenant_is_404(seeded, acme, globex):
    client = staff(acme)
    secret = seeded["secret_app"]
    for fmt in ("pdf", "html", "csv"):
        url = reverse("admin:workspace_report_application", args=[secret.pk, fmt])
        assert client.get(url).status_code == 404
        url = reverse("admin:workspace_report_tenant", args=[globex.pk, fmt])
        assert client.get(url).status_code == 404
    own = reverse("admin:workspace_report_application", args=[seeded["payments"].pk, "xlsx"])
    assert client.get(own).status_code == 404  # an unknown format


def test_not_staff_and_anonymous_are_sent_to_sign_in(seeded, acme):
    url = reverse("admin:workspace_report_current", args=["pdf"])
    assert Client().get(url).status_code == 302
    user = UserFactory(username="not-staff", is_staff=False)
    MembershipFactory(user=user, tenant=acme, role="admin")
    client = Client()
    client.force_login(user)
    assert client.get(url).status_code == 302


def test_superuser_reads_any_tenant_and_picks_one_for_the_current_link(seeded, globex):
    client = staff(None, role="root", is_superuser=True)
    url = reverse("admin:workspace_report_tenant", args=[globex.pk, "csv"])
    assert b"globex-secret-app" in client.get(url).content
    response = client.get(reverse("admin:workspace_report_current", args=["pdf"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:tenants_tenant_changelist")
