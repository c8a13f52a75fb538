"""The shared transport: Retry-After parsing, vendor error text, no retries, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from apps.connectors.base import ConnectorError, PermanentError, TransientError
from apps.connectors.http import build_session, parse_retry_after, vendor_error_text
from tests.fakes.base import FakeServer, Response, json_response


def test_parse_retry_after():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90.0
    )
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None


def _response(status: int, body, content_type="application/json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body if isinstance(body, bytes) else __import__("json").dumps(body).encode()
    response.headers["Content-Type"] = content_type
    return response


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"errorMessages": ["Issue does not exist"], "errors": {}}, "Issue does not exist"),
        ({"errorMessages": [], "errors": {"summary": "required"}}, "summary: required"),
        (
            {"error": {"message": "No Record found", "detail": "ACL"}, "status": "failure"},
            "No Record found; ACL",
        ),
        ({"message": {"title": ["can't be blank"]}}, "title: can't be blank"),
        (
            {
                "message": "Validation Failed",
                "errors": [{"resource": "Issue", "field": "title", "code": "missing"}],
            },
            "Validation Failed; resource: Issue; field: title; code: missing",
        ),
        ({"$id": "1", "message": "TF401232: nope", "typeKey": "X"}, "TF401232: nope"),
        ({"ok": False, "error": "channel_not_found"}, "channel_not_found"),
        (
            {"errors": [{"status": 409, "code": "CONFLICT", "title": "Version conflict"}]},
            "Version conflict",
        ),
        (
            {"statusCode": 409, "message": "Version must be incremented"},
            "Version must be incremented",
        ),
        ({"unknown": "shape"}, "unknown: shape"),
        ([1, 2], "1; 2"),
    ],
)
def test_vendor_error_text_shapes(body, text):
    assert vendor_error_text(_response(400, body)) == text


def test_vendor_error_text_plain_and_long():
    assert vendor_error_text(_response(404, b"no_service", "text/html")) == "no_service"
    long = vendor_error_text(_response(500, b"x" * 2000, "text/plain"))
    assert len(long) == 500 and long.endswith("…")


def test_timeouts_are_mandatory():
    with pytest.raises(ValueError, match="timeout is mandatory"):
        build_session(label="x", timeout=(0, 5))
    with pytest.raises(ValueError, match="timeout is mandatory"):
        build_session(label="x", timeout=(5, None))


class _Flaky(FakeServer):
    routes = (
        ("GET", r"/ok", "ok"),
        ("POST", r"/ok", "ok"),
        ("GET", r"/nocontent", "nocontent"),
        ("GET", r"/html", "html"),
        ("GET", r"/teapot", "teapot"),
    )

    def ok(self, req):
        return json_response(200, {"ok": True})

    def nocontent(self, req):
        return Response(204)

    def html(self, req):
        return Response(200, b"<html>SSO login</html>", {"Content-Type": "text/html"})

    def teapot(self, req):
        return json_response(418, {"message": "I'm a teapot"})


def test_no_retries_on_any_method():
    with _Flaky() as fake:
        session = build_session(label="t", timeout=(1, 1))
        for method in ("GET", "POST"):
            fake.fail_next(1, 503)
            with pytest.raises(TransientError):
                session.request(method, f"{fake.url}/ok")
            fake.drop_next(1)
            with pytest.raises(TransientError):
                session.request(method, f"{fake.url}/ok")
        assert len(fake.requests) == 4


def test_environment_proxies_are_ignored(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.255.255.1:3128")
    with _Flaky() as fake:
        assert build_session(label="t", timeout=(1, 1)).get(f"{fake.url}/ok").json() == {"ok": True}


def test_tls_failure_is_permanent():
    with _Flaky() as fake, pytest.raises(PermanentError, match="TLS failure"):
        build_session(label="t", timeout=(1, 1)).get(f"https://127.0.0.1:{fake.port}/ok")


def test_json_body_and_other_4xx():
    from apps.connectors.http import json_body

    with _Flaky() as fake:
        session = build_session(label="t", timeout=(1, 1))
        assert json_body(session.get(f"{fake.url}/nocontent"), label="t") == {}
        with pytest.raises(PermanentError, match="expected JSON from /html, got text/html"):
            json_body(session.get(f"{fake.url}/html"), label="t")
        with pytest.raises(PermanentError, match="t: HTTP 418 on GET /teapot: I'm a teapot") as err:
            session.get(f"{fake.url}/teapot")
        assert err.value.status == 418 and isinstance(err.value, ConnectorError)
        with pytest.raises(PermanentError, match="invalid request"):
            session.get("http://")
