"""Labels and object titles: every admin label a proper English plural, every object a
readable title (never Django's "<Model> object (n)")."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse

from apps.findings.models import Occurrence, Scan
from apps.tenants.models import Membership
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory
from tests.tenants.admin_pages import seed
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

# Plurals Django's default (name + "s") gets wrong, and what they are now.
EXPECTED = {
    "intel.Vulnerability": "vulnerabilities",
    "intel.OsvAdvisory": "OSV advisories",
    "intel.VulnerabilityAlias": "vulnerability aliases",
    "intel.OsvAffected": "OSV affected packages",
    "intel.EpssHistory": "EPSS history",
    "intel.FeedStatus": "feed statuses",
    "tenants.ApiToken": "API tokens",
    "tenants.SsoIdentity": "SSO identities",
    "tenants.SamlAssertionSeen": "SAML assertions seen",
    "policies.Policy": "policies",
    "policies.PolicySettings": "policy settings",
    "intel.RiskSettings": "risk settings",
    "findings.SlaPolicy": "SLA policies",
}
# A consonant + "ys" ("vulnerabilitys"), a doubled "ss" ("aliass"), "-eds" or "-seens"
# ("affecteds", "seens"); and an acronym in lower case ("osv advisory").
WRONG = re.compile(r"(?<![aeiou])ys$|ss$|eds$|seens$", re.I)
ACRONYM = re.compile(r"^(osv|sso|api|epss|saml|sla) ")
# Third-party libraries' own labels, out of FixOps's hands (celery beat's "clocked").
THIRD_PARTY = {"django_celery_beat.ClockedSchedule"}
DEFAULT_STR = re.compile(r"\bobject \(\d+\)$")


def project_models() -> list[type[models.Model]]:
    return [m for m in apps.get_models() if m.__module__.startswith(("apps.", "fixops."))]


def test_every_label_is_a_proper_plural():
    labels = {m._meta.label: m for m in project_models()}
    labels.update({m._meta.label: m for m in admin.site._registry})
    for label, model in labels.items():
        plural, singular = str(model._meta.verbose_name_plural), str(model._meta.verbose_name)
        if label in EXPECTED:
            assert plural == EXPECTED[label], label
        if label not in THIRD_PARTY:
            assert not WRONG.search(plural), f"{label}: {plural!r}"
            assert not ACRONYM.match(singular) and not ACRONYM.match(plural), label


def test_admin_pages_show_the_plurals(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Vulnerabilities" in index and "OSV advisories" in index and "API tokens" in index
    assert not re.search(r"[a-z](?<![aeiou])ys<", index), "a wrong plural on the index"
    for model in admin.site._registry:
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        page = admin_client.get(reverse(f"admin:{info}_changelist")).content.decode()
        title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
        # lower-cased: a composed page may title itself in sentence case ("Findings")
        assert str(model._meta.verbose_name).lower() in title.lower(), (info, title)
        assert not re.search(r"(?<![aeiou])ys\b", title), (info, title)


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_every_project_model_defines_str():
    missing = [m._meta.label for m in project_models() if m.__str__ is models.Model.__str__]
    assert not missing, f"give these models a readable __str__: {missing}"


def test_every_seeded_object_has_a_readable_title():
    tenant = TenantFactory(slug="acme", name="Acme")
    rows = seed(tenant, "acme")
    assert len(rows) > 20
    for label, row in rows.items():
        title = str(row)
        assert title and not DEFAULT_STR.search(title), (label, title)
        assert "None" not in title, (label, title)


def test_titles_name_what_people_call_things():
    tenant = TenantFactory(slug="acme", name="Acme")
    app = ApplicationFactory(tenant=tenant, name="payments-api")
    scan = ScanFactory(tenant=tenant, application=app, tool_name="semgrep", branch="main")
    assert str(scan) == f"semgrep scan #{scan.pk} · payments-api · main"
    assert str(Scan(pk=3, application=app, format="sarif")) == "sarif scan #3 · payments-api"
    alice = UserFactory(username="alice")
    membership = MembershipFactory(user=alice, tenant=tenant, role="analyst")
    assert str(Membership.objects.get(pk=membership.pk)) == "alice in acme (analyst)"
    finding = FindingFactory(tenant=tenant, application=app)
    occurrence = Occurrence(
        tenant=tenant,
        application=app,
        finding=finding,
        tool="semgrep",
        branch="main",
        path="src/pay.py",
        line=12,
    )
    assert str(occurrence) == f"semgrep · src/pay.py:12 · main (finding #{finding.pk})"
    rows = seed(tenant, "acme")
    assert str(rows["policies.PolicyVersion"]) == "acme-versioned-policy v1"
    assert str(rows["findings.Stream"]) == "acme-tool · acme-application-stream · (no branch)"
    assert str(rows["policies.RiskAcceptance"]) == "acceptance of CVE-1999-0001 (requested)"


def test_change_pages_title_objects_readably(admin_client):
    """Every walked model's change page, on a seeded row, names the model and the object."""
    rows = seed(TenantFactory(slug="acme", name="Acme"), "acme")
    for label, row in rows.items():
        info = f"{row._meta.app_label}_{row._meta.model_name}"
        page = admin_client.get(reverse(f"admin:{info}_change", args=[row.pk])).content.decode()
        title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
        # the model's name, or a title the object gives itself in full (a decision's page:
        # "BLOCK · payments-api @ 3f2a9c1 · <time>")
        named = str(row._meta.verbose_name).lower() in title.lower()
        assert named or title.split(" | ")[0] == str(row), (label, title)
        assert not DEFAULT_STR.search(title.split("|")[0].strip()), (label, title)
        assert "object (" not in page.split('id="content"')[1][:2000], label
