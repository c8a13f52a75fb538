"""EPSS: the daily file served by a real HTTP server, validated, loaded, announced."""

from __future__ import annotations

import gzip
from datetime import date

import pytest

from apps.intel.feeds import FeedError, FeedRejected
from apps.intel.feeds.epss import epss_parse, parse_comment, parse_score_date
from apps.intel.models import EpssHistory, FeedStatus, IntelEvent, RiskSettings, Vulnerability
from apps.intel.services import feed_refresh, feed_refresh_detailed
from tests.findings.factories import FindingFactory
from tests.intel.feedkit import FeedServer, epss_gz, epss_text

pytestmark = pytest.mark.django_db

ROWS = [
    ("CVE-1999-0001", "0.01420", "0.79910"),
    ("CVE-2021-44228", "0.94358", "0.99960"),
    ("CVE-2023-4863", "0.05000", "0.92000"),
    ("CVE-2024-3094", "0.83000", "0.98700"),
    ("CVE-2024-1000001", "0.00043", "0.12000"),
]


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


def serve(server, rows=ROWS, path="/epss_scores-current.csv.gz", **kwargs) -> str:
    server.add(path, epss_gz(rows, **kwargs))
    return server.url(path)


def epss(cve: str) -> tuple:
    return Vulnerability.objects.filter(vuln_id=cve).values_list(
        "epss_score", "epss_percentile", "epss_date", "epss_model_version"
    )[0]


def test_good_file_loads_scores_and_history_for_cves_in_findings(server, acme):
    FindingFactory(tenant=acme, vuln_id="CVE-2021-44228")
    FindingFactory(tenant=acme, vuln_id="CVE-2024-3094", status="fixed")
    FindingFactory(tenant=acme, vuln_id="CVE-2000-0001")  # not in the file
    url = serve(server)

    status = feed_refresh(name="epss", url=url)

    assert Vulnerability.objects.filter(epss_score__isnull=False).count() == 5
    assert epss("CVE-2021-44228") == (0.94358, 0.9996, date(2026, 4, 10), "v2025.03.14")
    assert epss("CVE-2024-1000001")[0] == 0.00043
    assert sorted(EpssHistory.objects.values_list("cve", "date", "score", "model_version")) == [
        ("CVE-2021-44228", date(2026, 4, 10), 0.94358, "v2025.03.14"),
        ("CVE-2024-3094", date(2026, 4, 10), 0.83, "v2025.03.14"),
    ]
    assert (status.name, status.row_count, status.version) == ("epss", 5, "2026-04-10")
    assert status.url == url and status.etag and status.last_modified and len(status.sha256) == 64
    assert status.last_success is not None and status.last_error == ""


def test_an_unchanged_file_is_not_downloaded_again(server):
    url = serve(server)
    first = feed_refresh(name="epss", url=url)
    Vulnerability.objects.filter(vuln_id="CVE-1999-0001").update(epss_score=0.5)

    run = feed_refresh_detailed(name="epss", url=url)

    assert run.unchanged and run.result is None
    assert server.requests["/epss_scores-current.csv.gz"] == 2
    assert server.headers_seen[-1][1]["If-None-Match"] == first.etag
    assert epss("CVE-1999-0001")[0] == 0.5  # not reloaded
    assert run.status.last_success > first.last_success and run.status.version == "2026-04-10"


def test_a_new_day_updates_scores_and_clears_cves_no_longer_scored(server, acme):
    FindingFactory(tenant=acme, vuln_id="CVE-2021-44228")
    feed_refresh(name="epss", url=serve(server))
    next_day = [("CVE-2021-44228", "0.95000", "0.99970"), ("CVE-2025-0001", "0.00100", "0.3")]
    url = serve(
        server,
        next_day,
        path="/epss_scores-2026-04-11.csv.gz",
        comment="#model_version:v2025.03.14,score_date:2026-04-11T12:55:00Z",
    )

    status = feed_refresh(name="epss", url=url)

    assert status.row_count == 2 and status.version == "2026-04-11"
    assert epss("CVE-2021-44228")[:3] == (0.95, 0.9997, date(2026, 4, 11))
    assert epss("CVE-1999-0001") == (None, None, None, "")
    assert EpssHistory.objects.filter(cve="CVE-2021-44228").count() == 2


def test_reloading_the_same_day_overwrites_its_history_row(tmp_path, acme):
    FindingFactory(tenant=acme, vuln_id="CVE-1999-0001")
    path = tmp_path / "epss.csv.gz"
    path.write_bytes(epss_gz(ROWS))
    feed_refresh(name="epss", path=str(path))
    path.write_bytes(epss_gz([("CVE-1999-0001", "0.02", "0.8")]))
    feed_refresh(name="epss", path=str(path))
    assert list(EpssHistory.objects.values_list("cve", "score")) == [("CVE-1999-0001", 0.02)]


def assert_rejected_and_kept(server, body: bytes, message: str) -> None:
    """Load a good file, then `body`: it is refused with `message`, yesterday's data stays."""
    feed_refresh(name="epss", url=serve(server))
    before = sorted(Vulnerability.objects.values_list("vuln_id", "epss_score", "epss_date"))
    server.add("/bad.csv.gz", body)
    with pytest.raises(FeedRejected, match=message):
        feed_refresh(name="epss", url=server.url("/bad.csv.gz"))
    assert sorted(Vulnerability.objects.values_list("vuln_id", "epss_score", "epss_date")) == before
    status = FeedStatus.objects.get(name="epss")
    assert status.version == "2026-04-10" and status.row_count == 5
    assert message.split(":", maxsplit=1)[0].replace("\\", "") in status.last_error


def test_truncated_gzip_is_rejected_and_the_old_data_kept(server):
    whole = epss_gz(ROWS * 1)
    assert_rejected_and_kept(server, whole[: len(whole) // 2], "truncated")


def test_corrupt_gzip_is_rejected(server):
    whole = bytearray(epss_gz(ROWS))
    whole[-6] ^= 0xFF  # the CRC no longer matches
    assert_rejected_and_kept(server, bytes(whole), "gzip stream is corrupt")


def test_malformed_row_is_rejected_naming_its_line(server):
    rows = [*ROWS[:2], ("CVE-2023-4863", "0.05", "1.2"), *ROWS[3:]]
    assert_rejected_and_kept(server, epss_gz(rows), "line 5: epss and percentile must be within")


def test_row_with_a_missing_field_is_rejected(server):
    body = gzip.compress((epss_text(ROWS) + "CVE-2025-1234,0.1\n").encode())
    assert_rejected_and_kept(server, body, "line 8: expected 3 fields, got 2")


def test_not_a_cve_is_rejected(server):
    rows = [*ROWS, ("GHSA-xxxx-yyyy-zzzz", "0.1", "0.2")]
    assert_rejected_and_kept(server, epss_gz(rows), "line 8: 'GHSA-xxxx-yyyy-zzzz' is not a CVE")


def test_duplicate_cve_is_rejected(server):
    assert_rejected_and_kept(server, epss_gz([*ROWS, ROWS[0]]), "line 8: CVE-1999-0001 appears")


def test_empty_files_are_rejected(server):
    assert_rejected_and_kept(server, b"", "the file is empty")


def test_empty_gzip_is_rejected(server):
    assert_rejected_and_kept(server, gzip.compress(b""), "the file is empty")


def test_header_only_is_rejected(server):
    assert_rejected_and_kept(server, epss_gz([]), "0 rows, fewer than the minimum of 1")


def test_missing_header_is_rejected(server):
    assert_rejected_and_kept(server, epss_gz(ROWS, header=None), "line 2: expected the header")


def test_missing_comment_line_is_rejected(server):
    assert_rejected_and_kept(server, epss_gz(ROWS, comment=None), "line 1: expected the")


def test_minimum_row_count_is_configurable(settings, tmp_path):
    settings.FIXOPS_EPSS_MIN_ROWS = 10
    path = tmp_path / "epss.csv.gz"
    path.write_bytes(epss_gz(ROWS))
    with pytest.raises(FeedRejected, match="5 rows, fewer than the minimum of 10"):
        feed_refresh(name="epss", path=str(path))


def test_a_decompressed_mirror_copy_is_accepted(tmp_path):
    path = tmp_path / "epss_scores-current.csv"
    path.write_text(epss_text(ROWS).replace("\n", "\r\n"))
    assert feed_refresh(name="epss", path=str(path)).row_count == 5


@pytest.mark.parametrize(
    "comment",
    [
        "#model_version:v2025.03.14,score_date:2026-04-10T00:00:00+0000",
        "#model_version:v2025.03.14,score_date:2026-04-10T12:55:00Z",
        "#model_version:v2025.03.14,score_date:2026-04-10",
        "# model_version: v2025.03.14 , score_date: 2026-04-10T00:00:00+0000",
    ],
)
def test_comment_line_is_parsed_leniently(comment):
    meta = parse_comment(comment)
    assert meta["model_version"] == "v2025.03.14"
    assert parse_score_date(meta["score_date"]) == date(2026, 4, 10)


def test_parse_reads_string_numbers_exactly(tmp_path):
    path = tmp_path / "e.csv.gz"
    path.write_bytes(epss_gz(ROWS))
    parsed = epss_parse(path)
    assert parsed.model_version == "v2025.03.14" and parsed.score_date == date(2026, 4, 10)
    assert parsed.rows[0] == ("CVE-1999-0001", 0.0142, 0.7991)


def test_size_limit_is_recorded(server, settings):
    settings.FIXOPS_FEED_MAX_BYTES = 100
    with pytest.raises(FeedError, match="larger than the 100-byte limit"):
        feed_refresh(name="epss", url=serve(server))
    assert "larger than the 100-byte limit" in FeedStatus.objects.get(name="epss").last_error
    assert not Vulnerability.objects.exists()


def test_timeout_is_recorded_in_last_error(server, settings, monkeypatch):
    from apps.intel.feeds import download

    monkeypatch.setattr(download, "BACKOFF", 0.0)  # keep the retries, skip their pauses
    settings.FIXOPS_FEED_TIMEOUT = 0.2
    server.add("/slow.csv.gz", epss_gz(ROWS), delay=1.0)
    with pytest.raises(FeedError, match="timed out"):
        feed_refresh(name="epss", url=server.url("/slow.csv.gz"))
    status = FeedStatus.objects.get(name="epss")
    assert "timed out" in status.last_error and "after 4 attempts" in status.last_error
    assert status.last_attempt is not None and status.last_success is None
    assert server.requests["/slow.csv.gz"] == 4


def test_crossing_a_tenant_threshold_is_an_event_for_open_findings(server, acme, globex):
    RiskSettings.objects.create(tenant=globex, epss_alert_threshold=0.5)
    acme_open = FindingFactory(tenant=acme, vuln_id="CVE-2023-4863", status="triaged")
    FindingFactory(tenant=acme, vuln_id="CVE-2023-4863", status="fixed")
    FindingFactory(tenant=globex, vuln_id="CVE-2023-4863")
    acme_down = FindingFactory(tenant=acme, vuln_id="CVE-2024-3094")
    feed_refresh(name="epss", url=serve(server))  # the first load is the baseline: no events
    assert not IntelEvent.objects.exists()

    rows = [
        ("CVE-2023-4863", "0.20000", "0.97"),  # 0.05 -> 0.2: crosses acme's default 0.1 only
        ("CVE-2024-3094", "0.09000", "0.9"),  # 0.83 -> 0.09: falls below 0.1
        ("CVE-2021-44228", "0.95000", "0.99"),  # moves, crosses nothing
    ]
    run = feed_refresh_detailed(
        name="epss",
        url=serve(
            server,
            rows,
            path="/next.csv.gz",
            comment="#model_version:v2025.03.14,score_date:2026-04-11",
        ),
    )

    events = IntelEvent.objects.order_by("vuln_id")
    assert run.result.events == 2
    assert [(e.tenant_id, e.kind, e.vuln_id, e.finding_id) for e in events] == [
        (acme.id, "epss_crossed", "CVE-2023-4863", acme_open.id),
        (acme.id, "epss_crossed", "CVE-2024-3094", acme_down.id),
    ]
    assert events[0].details == {
        "from": 0.05,
        "to": 0.2,
        "threshold": 0.1,
        "direction": "up",
        "score_date": "2026-04-11",
        "model_version": "v2025.03.14",
    }
    assert events[1].details["direction"] == "down"


def test_findings_of_changed_cves_are_rescored(server, acme):
    finding = FindingFactory(tenant=acme, vuln_id="CVE-2021-44228", kind="sca")
    untouched = FindingFactory(tenant=acme, vuln_id="CVE-2019-0001", kind="sca")
    run = feed_refresh_detailed(name="epss", url=serve(server))
    assert run.result.changed == ["CVE-2021-44228"]  # only CVEs a finding refers to
    assert run.rescored == 1
    finding.refresh_from_db()
    untouched.refresh_from_db()
    assert finding.epss == 0.94358 and finding.risk_score is not None
    assert untouched.risk_score is None

    again = feed_refresh_detailed(name="epss", path=None, url=serve(server, path="/copy.csv.gz"))
    assert again.result.changed == [] and again.rescored == 0  # same scores: nothing to do
