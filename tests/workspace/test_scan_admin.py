"""The scan's admin pages show what was lost: a count on the list, a table on the page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.findings.counts import skipped_groups
from tests.findings.factories import ApplicationFactory, ScanFactory
from tests.tenants.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

SKIPPED = [
    {"pointer": "/runs/0/results/3", "reason": "no_location", "message": "no location",
     "lost": True, "suppressed": False},
    {"pointer": "/runs/0/results/9", "reason": "no_location", "message": "no location",
     "lost": True, "suppressed": False},
    # An entry stored before `lost` existed: only `lost_finding`.
    {"pointer": "/runs/0/results/12", "message": "rule missing", "lost_finding": True},
    {"pointer": "/runs/0/results/4", "reason": "kind_pass", "message": "kind pass",
     "lost": False, "suppressed": True},
]  # fmt: skip
COUNTS = {"results": 20, "lost": 5, "suppressed": 1, "skipped": 5}


@pytest.fixture
def scans():
    tenant = TenantFactory(slug="acme", name="Acme")
    app = ApplicationFactory(tenant=tenant, name="payments-api")
    lossy = ScanFactory(
        tenant=tenant, application=app, branch="main", skipped=SKIPPED, counts=COUNTS
    )
    clean = ScanFactory(
        tenant=tenant, application=app, tool_name="bandit", counts={"results": 4, "lost": 0}
    )
    user = UserFactory(username="alice", is_staff=True)
    MembershipFactory(user=user, tenant=tenant, role="analyst")
    client = Client()
    client.force_login(user)
    return client, lossy, clean


def test_groups_count_each_reason_and_name_where():
    groups = skipped_groups(SKIPPED, COUNTS)
    rows = [(g["kind"], g["reason"], g["count"], g["pointers"]) for g in groups["rows"]]
    assert rows == [
        ("lost", "no_location", 2, ["/runs/0/results/3", "/runs/0/results/9"]),
        ("lost", "lost", 1, ["/runs/0/results/12"]),
        ("suppressed", "kind_pass", 1, ["/runs/0/results/4"]),
    ]
    # 5 lost counted, 3 listed: the stored list was capped.
    assert groups["lost"] == 5 and groups["unlisted_lost"] == 2


def test_scan_page_lists_the_lost_results(scans):
    client, lossy, _ = scans
    page = client.get(reverse("admin:findings_scan_change", args=[lossy.pk])).content.decode()
    assert f"semgrep scan #{lossy.pk} · payments-api · main" in page
    assert "20 results: 14 findings, 5 lost, 1 suppressed" in page
    table = page[page.index('<table class="fixops-skipped">') :]
    table = table[: table.index("</table>")]
    assert (
        "<td>lost (could not be read)</td><td>no_location</td><td>no location</td><td>2</td>"
        in (table)
    )
    assert "/runs/0/results/3, /runs/0/results/9" in table
    assert "rule missing" in table and "kind_pass" in table
    assert "2 more lost results were counted but not listed" in page


def test_scan_list_shows_lost_counts_and_filters_them(scans):
    client, lossy, clean = scans
    url = reverse("admin:findings_scan_changelist")
    page = client.get(url).content.decode()
    assert '<strong class="fixops-lost">5 lost</strong>' in page
    only_lossy = client.get(url + "?lost=yes").content.decode()
    assert f"scan #{lossy.pk} " in only_lossy and f"scan #{clean.pk} " not in only_lossy
    none_lost = client.get(url + "?lost=no").content.decode()
    assert f"scan #{clean.pk} " in none_lost and f"scan #{lossy.pk} " not in none_lost


def test_a_clean_scan_says_so(scans):
    client, _, clean = scans
    page = client.get(reverse("admin:findings_scan_change", args=[clean.pk])).content.decode()
    assert "None: every result of the report was read." in page
