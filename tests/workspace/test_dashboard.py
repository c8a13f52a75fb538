"""The dashboard (the admin index): the API's numbers on screen, tiles linking to their lists,
one tenant at a time, sensible pages without a tenant, and nothing the strict CSP refuses."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from apps.workspace.services import analytics_refresh
from tests.tenants.factories import UserFactory
from tests.workspace.seed import seed_tenant

pytestmark = pytest.mark.django_db


def staff(user) -> Client:
    user.is_staff = True
    user.save()
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["findings", "tenants", "policies", "intel"]
        )
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def seeded(acme, globex):
    seed_tenant(acme)
    seed_tenant(globex, findings=50, rng_seed=99)
    analytics_refresh()
    return acme


@pytest.fixture
def page(seeded, alice) -> str:
    response = staff(alice).get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def tiles(html: str) -> dict[str, tuple[str, str]]:
    """{tile key: (href, value shown)}."""
    found = re.findall(
        r'<a href="([^"]+)" data-tile="(\w+)"><span class="fx-tile-value" data-value="\w+">'
        r"([^<]*)</span>",
        html,
    )
    return {key: (unescape(href), value) for href, key, value in found}


def test_tiles_show_the_apis_numbers(page, seeded, issue_token, api_client):
    api = api_client(issue_token(seeded, role="viewer")).get("/api/v1/analytics/summary/").json()
    shown = {k: v for k, (_, v) in tiles(page).items()}
    sla = api["sla"]
    noise = api["noise"]["noise_reduction"]
    assert shown == {
        "open": str(api["open"]["total"]),
        "critical": str(api["open"]["by_severity"]["critical"]),
        "kev": str(api["kev"]["open_findings"]),
        "overdue_kev": str(api["kev"]["overdue_findings"]),
        "overdue": str(sla["by_state"]["overdue"]),
        "due_soon": str(sla["by_state"]["due_soon"]),
        "on_time_percent": f"{sla['on_time_percent']}%",
        "noise": f"{round(noise * 100, 1)}%",
        "feeds": str(api["feeds"]["stale"]),
    }
    # The charts' text values beside the bars are the same numbers.
    for severity, n in api["open"]["by_severity"].items():
        assert re.search(rf"severity={severity}[^\"]*\"><title>[^<]*: {n:,}</title>", page)
    for state, n in sla["by_state"].items():
        assert re.search(rf"sla={state}[^\"]*\"><title>[^<]*: {n:,}</title>", page)
    for decision, n in api["ssvc"].items():
        if decision != "none":
            assert f"{decision}: {n:,}</title>" in page
    labels = {"ALLOW": "Allow", "NEEDS_REVIEW": "Needs review", "BLOCK": "Block"}
    for outcome, n in api["decisions"]["by_outcome"].items():
        assert f'data-value="decisions-{outcome}">{labels[outcome]} {n}</span>' in page
    for app in api["riskiest_applications"]:
        assert f'data-app="{app["application_id"]}">{app["name"]}</a>' in page
    assert f"{api['trend']['opened']} opened" in page
    assert f"{api['trend']['closed']} closed" in page
    assert 'id="fx-as-of"' in page
    assert "All pages" in page and "/admin/findings/finding/" in page  # the app list stays


def test_tiles_link_to_the_filtered_findings_list(page):
    links = {k: parse_qs(urlsplit(href).query) for k, (href, _) in tiles(page).items()}
    assert links["open"] == {"state": ["active"]}
    assert links["critical"] == {"state": ["active"], "severity": ["critical"]}
    assert links["kev"] == {"state": ["active"], "kev": ["1"]}
    assert links["overdue"] == {"sla": ["overdue"]}
    assert links["due_soon"] == {"sla": ["due_soon"]}
    assert all(
        urlsplit(h).path == "/admin/findings/finding/"
        for k, (h, _) in tiles(page).items()
        if k != "feeds"
    )
    assert urlsplit(tiles(page)["feeds"][0]).path == "/admin/intel/feedstatus/"


def test_decision_links_open_lists_with_that_count(page, seeded, alice):
    client = staff(alice)
    weeks = re.findall(
        r'<a href="(/admin/policies/decision/\?[^"]+)"><title>Week of [^:]+: [^<]+ (\d+)</title>',
        page,
    )
    assert weeks
    for href, n in weeks:
        listing = client.get(unescape(href))
        assert listing.status_code == 200, href
        shown = re.search(r"(\d+) decisions?", listing.content.decode())
        assert shown and shown.group(1) == n, href


def test_findings_links_the_changelist_supports_show_that_count(page, seeded, alice):
    """The findings changelist's own filter parameters (state, severity, kev, sla, ...) come
    with the triage pages; until then a link the changelist refuses (?e=1) is skipped."""
    client = staff(alice)
    checked = 0
    for key, (href, value) in tiles(page).items():
        if not href.startswith("/admin/findings/finding/") or not value.isdigit():
            continue
        response = client.get(href)
        if response.status_code == 302 and "e=1" in response["Location"]:
            continue
        body = response.content.decode()
        shown = re.search(r"([\d,]+) findings?", body)
        assert shown and shown.group(1).replace(",", "") == value, key
        checked += 1
    assert checked <= len(tiles(page))


def test_one_tenant_at_a_time(page, seeded):
    assert "Acme" in page and "acme-shop" in page
    assert "globex-" not in page


def test_superuser_picks_a_tenant(seeded, globex):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    picker = client.get("/admin/").content.decode()
    assert 'href="?tenant=acme"' in picker and 'href="?tenant=globex"' in picker
    assert "fx-tiles" not in picker
    page = client.get("/admin/?tenant=globex").content.decode()
    assert "globex-shop" in page or "globex-api" in page
    assert "acme-" not in page
    href = tiles(page)["open"][0]
    assert parse_qs(urlsplit(href).query)["tenant__id__exact"] == [str(globex.pk)]


def test_staff_without_a_tenant_get_a_note(db):
    client = staff(UserFactory(username="nobody"))
    page = client.get("/admin/").content.decode()
    assert "not a member of any tenant" in page


def test_an_empty_tenant_renders(acme, alice):
    page = staff(alice).get("/admin/").content.decode()
    assert tiles(page)["open"][1] == "0" and tiles(page)["noise"][1] == "–"


def test_no_inline_style_or_script(page):
    assert not re.search(r"\sstyle\s*=", page, re.I)
    assert "<style" not in page.lower()
    for script in re.findall(r"<script\b[^>]*>", page, re.I):
        assert "src=" in script, script
    assert not re.search(r"\son[a-z]+\s*=", page)  # no event handler attributes
    assert "<svg" in page and "<title" in page


def test_an_old_snapshot_is_flagged(seeded, alice):
    from datetime import timedelta

    from django.utils import timezone

    from apps.workspace.models import AnalyticsSnapshot

    client = staff(alice)
    assert "not refreshed for a while" not in client.get("/admin/").content.decode()
    AnalyticsSnapshot.objects.filter(tenant=seeded).update(
        as_of=timezone.now() - timedelta(hours=1)
    )
    assert "not refreshed for a while" in client.get("/admin/").content.decode()
