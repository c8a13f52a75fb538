"""Reports: the numbers of every format equal an independent SQL count; the PDF is a real
PDF laid out offline; CSV parses; formats by ?format= and Accept; isolation, scopes,
filenames."""

from __future__ import annotations

import csv
import io
import re
import zlib

import pytest
from django.db import connection
from weasyprint import HTML

from apps.workspace.reports import formats, pdf, pdf_layout
from apps.workspace.reports.document import report_application, report_tenant
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db

OPEN = ["open", "triaged", "in_progress", "reopened"]


def app_url(app, fmt: str | None = None) -> str:
    url = f"/api/v1/reports/applications/{app.pk}/"
    return f"{url}?format={fmt}" if fmt else url


def sql(query: str, *params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def expected_counts(app) -> dict:
    """What the report of `app` must say, counted in SQL without the report's code.
    clock_timestamp(), not now(): the test's transaction began before the rows were made."""
    where = "tenant_id = %s AND application_id = %s AND status = ANY(%s)"
    args = (app.tenant_id, app.pk, OPEN)
    severity = dict(
        sql(f"SELECT severity, count(*) FROM findings_finding WHERE {where} GROUP BY 1", *args)
    )
    kev = sql(f"SELECT count(*) FROM findings_finding WHERE {where} AND kev", *args)[0][0]
    overdue = sql(
        f"SELECT count(*) FROM findings_finding WHERE {where} AND due_at < clock_timestamp()", *args
    )[0][0]
    act = sql(f"SELECT count(*) FROM findings_finding WHERE {where} AND ssvc = 'Act'", *args)
    accepted = sql(
        "SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND application_id = %s "
        "AND status = 'risk_accepted'",
        app.tenant_id,
        app.pk,
    )[0][0]
    outcomes = dict(
        sql(
            "SELECT outcome, count(*) FROM policies_decision WHERE tenant_id = %s "
            "AND application_id = %s GROUP BY 1",
            app.tenant_id,
            app.pk,
        )
    )
    scope = "tenant_id = %s AND (application_id = %s OR application_id IS NULL)"
    active = sql(
        f"SELECT count(*) FROM policies_riskacceptance WHERE {scope} AND status = 'approved' "
        "AND expires_at > clock_timestamp()",
        app.tenant_id,
        app.pk,
    )[0][0]
    expired = sql(
        f"SELECT count(*) FROM policies_riskacceptance WHERE {scope} AND (status = 'expired' "
        "OR (status = 'approved' AND expires_at <= clock_timestamp()))",
        app.tenant_id,
        app.pk,
    )[0][0]
    return {
        "open": sum(severity.values()),
        "severity": {s: severity.get(s, 0) for s in ("critical", "high", "medium", "low")},
        "kev": kev,
        "overdue": overdue,
        "act": act[0][0],
        "accepted": accepted,
        "outcomes": outcomes,
        "active": active,
        "expired": expired,
    }


# --- the document (JSON) ---------------------------------------------------------------------


def test_json_numbers_equal_an_independent_count(seeded, acme, issue_token, api_client):
    app = seeded["payments"]
    want = expected_counts(app)
    assert want["open"] and want["kev"] and want["overdue"] and want["active"] == 2
    body = api_client(issue_token(acme, role="viewer")).get(app_url(app)).json()
    posture = body["posture"]
    assert posture["open"] == want["open"]
    assert {s: posture["by_severity"][s] for s in want["severity"]} == want["severity"]
    assert posture["kev"]["open"] == want["kev"]
    assert posture["by_ssvc"]["Act"] == want["act"]
    assert posture["accepted"] == want["accepted"]
    assert sum(posture["by_ssvc"].values()) == want["open"]
    assert body["sla"]["by_state"]["overdue"] == want["overdue"]
    assert body["sla"]["overdue"]["total"] == want["overdue"]
    assert len(body["sla"]["overdue"]["rows"]) == min(want["overdue"], 25)
    assert body["decisions"]["by_outcome"] == {
        o: want["outcomes"].get(o, 0) for o in ("ALLOW", "NEEDS_REVIEW", "BLOCK")
    }
    exceptions = body["exceptions"]
    assert exceptions["counts"]["active"] == want["active"]
    assert exceptions["counts"]["expired"] == want["expired"] == 2  # incl. the tenant-wide one
    assert exceptions["counts"]["pending"] == 1
    top = body["posture"]["top_risks"]
    assert len(top["rows"]) == 10 and top["more"] == want["open"] - 10
    scores = [r["risk_score"] for r in top["rows"]]
    assert scores == sorted(scores, reverse=True)  # riskiest first, unscored last


def test_evidence_references_each_listed_decision(seeded, acme, issue_token, api_client):
    app = seeded["payments"]
    body = api_client(issue_token(acme, role="viewer")).get(app_url(app)).json()
    decisions = {d["id"] for d in body["decisions"]["recent"]["rows"]}
    rows = body["evidence"]["rows"]
    assert len(rows) == 4 and {e["decision_id"] for e in rows} <= decisions
    bundles = dict(
        sql(
            "SELECT id, envelope_digest FROM evidence_evidencebundle WHERE tenant_id = %s",
            acme.pk,
        )
    )
    for row in rows:
        assert bundles[row["bundle_id"]] == row["envelope_digest"]
        assert row["verify_url"] == f"http://testserver/api/v1/evidence/{row['bundle_id']}/verify"


def test_tenant_report_holds_every_application_and_the_riskiest(
    seeded, acme, issue_token, api_client
):
    body = api_client(issue_token(acme, role="viewer")).get("/api/v1/reports/tenant/").json()
    total_open = sql(
        "SELECT count(*) FROM findings_finding WHERE tenant_id = %s AND status = ANY(%s)",
        acme.pk,
        OPEN,
    )[0][0]
    assert body["posture"]["open"] == total_open
    names = [a["name"] for a in body["applications"]["rows"]]
    assert names == ["payments", "other"]  # more critical open findings first
    assert body["applications"]["total"] == 2
    assert sum(body["decisions"]["by_outcome"].values()) == 5


def test_the_report_reads_in_a_fixed_number_of_queries(seeded, acme, django_assert_max_num_queries):
    app = seeded["payments"]
    with django_assert_max_num_queries(13):
        report_application(tenant=acme, application=app)
    with django_assert_max_num_queries(16):
        report_tenant(tenant=acme)


# --- formats ---------------------------------------------------------------------------------


def test_csv_parses_with_every_section_and_the_same_numbers(seeded, acme, issue_token, api_client):
    app = seeded["payments"]
    want = expected_counts(app)
    response = api_client(issue_token(acme, role="viewer")).get(app_url(app, "csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    sections: dict[str, list[list[str]]] = {}
    header: dict[str, list[str]] = {}
    for row in rows:
        if not row:
            continue
        if row[0] == "section":
            pending = row
            continue
        header.setdefault(row[0], pending)
        sections.setdefault(row[0], []).append(row)
    assert set(sections) >= {
        "summary",
        "top_risks",
        "sla_overdue",
        "sla_due_soon",
        "exceptions_active",
        "exceptions_pending",
        "exceptions_expired",
        "decisions",
        "evidence",
        "listed",
    }
    summary = {r[1]: r[2] for r in sections["summary"]}
    assert int(summary["open"]) == want["open"]
    assert int(summary["kev:open"]) == want["kev"]
    assert int(summary["sla:overdue"]) == want["overdue"]
    assert int(summary["severity:critical"]) == want["severity"]["critical"]
    assert int(summary["exceptions:active"]) == want["active"]
    assert int(summary["decisions:BLOCK"]) == want["outcomes"]["BLOCK"]
    assert len(sections["sla_overdue"]) == want["overdue"]
    listed = {r[1]: (int(r[2]), int(r[3])) for r in sections["listed"]}
    assert listed["top_risks"] == (10, want["open"])
    assert header["evidence"][1:3] == ["decision_id", "bundle_id"]


def test_csv_cells_never_start_a_formula(acme, issue_token, api_client):
    app = ApplicationFactory(tenant=acme, name="=cmd|' /C calc'!A0")
    FindingFactory(tenant=acme, application=app, title='=HYPERLINK("http://evil.example")')
    response = api_client(issue_token(acme, role="viewer")).get(app_url(app, "csv"))
    cells = [c for row in csv.reader(io.StringIO(response.content.decode())) for c in row]
    assert '\'=HYPERLINK("http://evil.example")' in cells
    assert not [c for c in cells if c.startswith(("=", "+", "@"))]


def test_html_links_its_stylesheet_and_holds_no_inline_style_or_script(
    seeded, acme, issue_token, api_client
):
    app = seeded["payments"]
    want = expected_counts(app)
    response = api_client(issue_token(acme, role="viewer")).get(app_url(app, "html"))
    page = response.content.decode()
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert '<link rel="stylesheet" href="/static/fixops/report.css">' in page
    assert "<script" not in page and "style=" not in page and "<style" not in page
    assert "style-src 'self'" in response["Content-Security-Policy"]
    assert f'<span class="tile-n">{want["open"]}</span><span class="tile-l">open findings' in page
    assert f'<span class="tile-n">{want["overdue"]}</span><span class="tile-l">overdue' in page
    for section in ("Posture", "SLA", "Exceptions (risk acceptances)", "Decisions", "Evidence"):
        assert f"<h2>{section}</h2>" in page
    assert "acme justification 0" in page and "user:bob" in page


def pdf_pages(data: bytes) -> int:
    """Pages of a PDF whose objects may sit in compressed object streams (pydyf's output):
    inflate every Flate stream and count the page objects. Raises if a stream is corrupt."""
    found = len(re.findall(rb"/Type\s*/Page\b", data))
    for match in re.finditer(rb"/FlateDecode.*?stream\r?\n(.*?)\r?\nendstream", data, re.S):
        found += len(re.findall(rb"/Type\s*/Page\b", zlib.decompress(match.group(1))))
    return found


def test_pdf_is_a_real_pdf(seeded, acme, issue_token, api_client):
    app = seeded["payments"]
    response = api_client(issue_token(acme, role="viewer")).get(app_url(app, "pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    data = response.content
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    offset = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert re.match(rb"\d+ 0 obj", data[offset:])  # the cross-reference the trailer points to
    assert pdf_pages(data) >= 2


def test_pdf_fetches_nothing_but_its_stylesheet(seeded, acme):
    document = report_application(tenant=acme, application=seeded["payments"])
    fetcher = pdf_layout.StaticOnlyFetcher()
    pdf.write_pdf(formats.to_html(document, for_pdf=True), fetcher=fetcher)
    assert fetcher.fetched == ["fixops-static:fixops/report.css"] and fetcher.refused == []
    # A page that asks for more gets nothing, and is still laid out.
    hostile = pdf_layout.StaticOnlyFetcher()
    html = (
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        '<img src="file:///etc/passwd"><img src="relative.png"><p>still here</p>'
    )
    assert pdf.write_pdf(html, fetcher=hostile).startswith(b"%PDF")
    assert hostile.fetched == [] and len(hostile.refused) == 3


def test_pdf_pages_hold_everything_within_their_margins(seeded, acme):
    """Nothing runs off the right edge of an A4 page, even with unbreakable long values."""
    FindingFactory(
        tenant=acme,
        application=seeded["payments"],
        severity="critical",
        title="A" * 300,
        component_name="x" * 200,
        vuln_id="GHSA-" + "y" * 90,
        risk_score=1000.0,
    )
    document = report_tenant(tenant=acme, link=lambda p: "https://" + "h" * 120 + ".example" + p)
    laid_out = HTML(
        string=formats.to_html(document, for_pdf=True),
        base_url=pdf_layout.BASE_URL,
        url_fetcher=pdf_layout.StaticOnlyFetcher(),
    ).render()
    assert 2 <= len(laid_out.pages) <= 8
    overflowing = []
    for number, page in enumerate(laid_out.pages, start=1):
        box = page._page_box  # WeasyPrint's layout tree (no public API walks it)
        right = box.content_box_x() + box.width
        overflowing += [
            (number, type(b).__name__, getattr(b, "text", "")[:30])
            for b in box.descendants()
            if type(b).__name__ not in ("PageBox", "MarginBox")  # the page and its footer
            and b.position_x + b.margin_width() > right + 0.5
        ]
    assert not overflowing, overflowing[:10]


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("application/pdf", "application/pdf"),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ],
)
def test_accept_negotiates_the_format(acme, issue_token, api_client, accept, media_type):
    client = api_client(issue_token(acme, role="viewer"))
    response = client.get("/api/v1/reports/tenant/", HTTP_ACCEPT=accept)
    assert response.status_code == 200 and response["Content-Type"] == media_type


def test_format_wins_over_accept(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="viewer"))
    response = client.get("/api/v1/reports/tenant/?format=csv", HTTP_ACCEPT="text/html")
    assert response["Content-Type"] == "text/csv; charset=utf-8"


def test_unknown_format_is_400_in_the_error_shape(acme, issue_token, api_client):
    client = api_client(issue_token(acme, role="viewer"))
    response = client.get("/api/v1/reports/tenant/?format=xlsx")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid" and "xlsx" in error["details"]["format"][0]
    # An Accept nothing here serves is DRF's 406, in the same shape.
    response = client.get("/api/v1/reports/tenant/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406 and "error" in response.json()


def test_filename_is_safe(acme, issue_token, api_client):
    app = ApplicationFactory(tenant=acme, name='pay"ments\r\n/../Zahlungsüberweisung; x=1')
    client = api_client(issue_token(acme, role="viewer"))
    response = client.get(app_url(app, "pdf"))
    disposition = response["Content-Disposition"]
    assert re.fullmatch(
        r'attachment; filename="fixops-report-acme-pay-ments-zahlungsuberweisung-x-1-'
        r'\d{4}-\d{2}-\d{2}\.pdf"',
        disposition,
    ), disposition
    assert client.get(app_url(app, "html"))["Content-Disposition"].startswith("inline; ")
    assert "Content-Disposition" not in client.get(app_url(app, "json"))


# --- who may read it -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "html", "csv", "pdf"])
def test_another_tenants_application_is_404_json(seeded, acme, issue_token, api_client, fmt):
    client = api_client(issue_token(acme, role="admin"))
    response = client.get(app_url(seeded["secret_app"], fmt))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("fmt", ["json", "html", "csv"])
def test_tenant_report_shows_nothing_of_another_tenant(seeded, acme, issue_token, api_client, fmt):
    client = api_client(issue_token(acme, role="viewer"))
    body = client.get(f"/api/v1/reports/tenant/?format={fmt}").content.decode()
    assert "payments" in body and "globex-secret" not in body


def test_scopes(seeded, acme, issue_token, api_client):
    app = seeded["payments"]
    narrow = api_client(issue_token(acme, role="admin", scopes=["findings:read"]))
    response = narrow.get(app_url(app, "pdf"))
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required"] == {"scope": "reports:read"}
    assert narrow.get("/api/v1/reports/tenant/").status_code == 403
    reader = api_client(issue_token(acme, role="viewer", scopes=["reports:read"]))
    assert reader.get(app_url(app, "csv")).status_code == 200
    assert api_client(None).get("/api/v1/reports/tenant/").status_code == 401


def test_without_pango_pdf_is_503_and_the_rest_works(acme, issue_token, api_client, monkeypatch):
    """A server whose WeasyPrint could not load Pango (what pdf.missing() then says)."""
    from django.core import checks

    monkeypatch.setattr(pdf, "missing", lambda: "WeasyPrint cannot load Pango: no libpango")
    client = api_client(issue_token(acme, role="viewer"))
    response = client.get("/api/v1/reports/tenant/?format=pdf")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "pdf_unavailable"
    assert client.get("/api/v1/reports/tenant/?format=csv").status_code == 200
    assert "fixops.W150" in [m.id for m in checks.run_checks()]
