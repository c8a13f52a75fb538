"""`manage.py refresh_feed`, the Celery task, the schedules and /readyz's feed list."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.intel.models import FeedStatus
from apps.intel.tasks import refresh_feed_task
from fixops.celery import app as celery_app
from fixops.schedules import schedules
from tests.intel.feedkit import KEV_SMALL, FeedServer, epss_gz

pytestmark = pytest.mark.django_db

OSV_FIXTURES = KEV_SMALL.parent.parent / "osv" / "vulns"


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def run(*args) -> str:
    out = StringIO()
    call_command("refresh_feed", *args, stdout=out)
    return out.getvalue()


def test_file_load_prints_a_one_line_summary():
    out = run("kev", "--file", str(KEV_SMALL))
    assert out.startswith("kev: loaded 30 rows, version 2025.08.25, sha256 ")
    assert out.count("\n") == 1


def test_url_then_304(server):
    server.add("/epss.csv.gz", epss_gz([("CVE-2024-3094", "0.83", "0.98")]))
    url = server.url("/epss.csv.gz")
    assert run("epss", "--url", url).startswith("epss: loaded 1 rows, version 2026-04-10")
    assert run("epss", "--url", url) == (
        "epss: unchanged (304 Not Modified); still version 2026-04-10, 1 rows\n"
    )


def test_configured_url_is_the_default(server, settings):
    server.add("/kev.json", KEV_SMALL.read_bytes())
    settings.FIXOPS_KEV_URL = server.url("/kev.json")
    assert run("kev").startswith("kev: loaded 30 rows")
    assert FeedStatus.objects.get(name="kev").url == settings.FIXOPS_KEV_URL


def test_a_rejected_file_is_a_clear_error_with_exit_code_1(tmp_path):
    bad = tmp_path / "epss.csv.gz"
    bad.write_bytes(epss_gz([("CVE-2024-3094", "0.83", "0.98")])[:20])
    with pytest.raises(
        CommandError, match="epss: refresh failed: the gzip stream ends early"
    ) as exc:
        run("epss", "--file", str(bad))
    assert exc.value.returncode == 1


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="kev: refresh failed: no such file"):
        run("kev", "--file", str(tmp_path / "nope.json"))


def test_a_directory_is_not_an_epss_file(tmp_path):
    with pytest.raises(CommandError, match="epss: refresh failed: cannot read"):
        run("epss", "--file", str(tmp_path))


def test_usage_errors():
    with pytest.raises(CommandError, match="invalid choice: 'nvd'"):
        run("nvd")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("kev", "--file", "a", "--url", "http://127.0.0.1/b")


def test_osv_goes_through_its_loader(tmp_path):
    out = run("osv", "--file", str(OSV_FIXTURES))
    assert out.startswith("osv: loaded 20 rows, version -, sha256 ")
    bad = tmp_path / "all.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CommandError, match="osv: refresh failed: "):
        run("osv", "--file", str(bad))
    assert FeedStatus.objects.get(name="osv").row_count == 20


def test_task_refreshes_from_the_configured_url(server, settings):
    server.add("/kev.json", KEV_SMALL.read_bytes())
    settings.FIXOPS_KEV_URL = server.url("/kev.json")
    first = refresh_feed_task.run(name="kev")
    again = refresh_feed_task.run(name="kev")  # safe to run twice
    assert first == {
        "feed": "kev",
        "unchanged": False,
        "rows": 30,
        "version": "2025.08.25",
        "events": 0,
        "rescored": 0,
    }
    assert again["unchanged"] is True and again["rows"] == 30


def test_feeds_are_scheduled_daily_with_a_registered_task():
    feeds = {s.kwargs.get("name"): s for s in schedules() if s.task == "fixops.intel.refresh_feed"}
    assert set(feeds) == {"epss", "kev", "osv"}
    assert all(s.crontab and s.crontab.split()[2:] == ["*", "*", "*"] for s in feeds.values())
    assert "fixops.intel.refresh_feed" in celery_app.tasks


def test_readyz_lists_every_feed_without_changing_readiness(tmp_path, settings):
    settings.FIXOPS_PROBE_TOKEN = "probe-token-for-feeds"  # noqa: S105 - the feeds are details
    bad = tmp_path / "epss.csv.gz"
    bad.write_bytes(b"")
    with pytest.raises(CommandError):
        run("epss", "--file", str(bad))
    run("kev", "--file", str(KEV_SMALL))

    response = Client(HTTP_AUTHORIZATION="Bearer probe-token-for-feeds").get("/readyz")

    assert response.status_code == 200  # a failing feed does not make the node unready
    feeds = {f["name"]: f for f in response.json()["feeds"]}
    assert set(feeds) == {"epss", "kev", "osv"}
    assert feeds["kev"]["row_count"] == 30 and feeds["kev"]["version"] == "2025.08.25"
    assert feeds["kev"]["last_success"] and feeds["kev"]["age_seconds"] < 60
    assert feeds["kev"]["last_error"] == ""
    assert feeds["epss"]["last_success"] is None and "empty" in feeds["epss"]["last_error"]
    assert feeds["osv"] == {
        "name": "osv",
        "last_success": None,
        "last_attempt": None,
        "row_count": 0,
        "version": "",
        "last_error": "",
        "age_seconds": None,
    }
