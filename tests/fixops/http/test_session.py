"""The platform's outbound client: Retry-After parsing, error text, no retries, timeouts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from fixops.platform.http.errors import OutboundError, PermanentError, TransientError
from fixops.platform.http.responses import error_text, json_body
from fixops.platform.http.retry import parse_retry_after, with_retries
from fixops.platform.http.session import build_session
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
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
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
def test_error_text_shapes(body, text):
    assert error_text(_response(400, body)) == text


def test_error_text_plain_and_long():
    assert error_text(_response(404, b"no_service", "text/html")) == "no_service"
    long = error_text(_response(500, b"x" * 2000, "text/plain"))
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

    with _Flaky() as fake:
        session = build_session(label="t", timeout=(1, 1))
        assert json_body(session.get(f"{fake.url}/nocontent"), label="t") == {}
        with pytest.raises(PermanentError, match="expected JSON from /html, got text/html"):
            json_body(session.get(f"{fake.url}/html"), label="t")
        with pytest.raises(PermanentError, match="t: HTTP 418 on GET /teapot: I'm a teapot") as err:
            session.get(f"{fake.url}/teapot")
        assert err.value.status == 418 and isinstance(err.value, OutboundError)
        with pytest.raises(PermanentError, match="invalid request"):
            session.get("http://")


def test_with_retries_honours_retry_after_and_gives_up():
    waits: list[float] = []
    answers = iter([TransientError("503", retry_after=7.0), TransientError("503"), "done"])

    def call():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(call, retries=3, backoff=0.5, label="t", sleep=waits.append) == "done"
    assert 7.0 <= waits[0] <= 7.7 and 1.0 <= waits[1] <= 1.1  # Retry-After, then 0.5 * 2
    with pytest.raises(TransientError):
        with_retries(call_failing, retries=1, backoff=0, label="t", sleep=waits.append)


def call_failing():
    raise TransientError("down")
