"""Bounded work for every input, in process: nesting past FIXOPS_MAX_INPUT_DEPTH is 400
`too_deep` (JSON bodies and uploads alike), Django's refusals of a body's shape answer in the
error shape, and chunked bodies are read when the server terminated them (411 otherwise).
The same inputs against a real gunicorn: tests/pipeline/test_hostile_gunicorn.py."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings

from apps.findings.models import Scan
from fixops.wsgi import application as wsgi_application
from tests.findings.reports import Result, multipart_body, sarif, upload
from tests.fixtures.hostile.corpus import CDX

pytestmark = pytest.mark.django_db
VALIDATE = "/api/v1/policies/validate/"


def _body(client, url: str, body: bytes):
    return client.post(url, data=body, content_type="application/json")


def _nested(depth: int) -> bytes:
    """An object whose `source` nests arrays: `depth` containers in all."""
    return b'{"source": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def _error(response, code: str) -> dict:
    body = response.json()["error"]
    assert body["code"] == code, body
    assert body["request_id"] and body["message"]
    return body["details"]


def test_a_100000_deep_body_is_too_deep_for_a_viewer(acme_viewer):
    response = _body(acme_viewer, VALIDATE, _nested(100_000))
    assert response.status_code == 400
    details = _error(response, "too_deep")
    assert details == {"pointer": "/source" + "/0" * 127, "limit": 128}


def test_the_limit_is_exact_and_the_setting_is_read_per_request(acme_viewer, acme_analyst):
    at_limit = _body(acme_viewer, VALIDATE, _nested(128))
    assert at_limit.status_code == 400
    assert at_limit.json()["error"]["code"] == "invalid"  # `source` is not a string
    assert _error(_body(acme_viewer, VALIDATE, _nested(129)), "too_deep")["limit"] == 128
    with override_settings(FIXOPS_MAX_INPUT_DEPTH=3):
        response = _body(acme_analyst, "/api/v1/decisions/", b'{"scans": [[[1]]]}')
        assert response.status_code == 400
        assert _error(response, "too_deep") == {"pointer": "/scans/0/0", "limit": 3}


RULES = "package fixops.gate\n\nimport rego.v1\n\ndeny := set()\nreview := set()\nwarn := set()\n"


def test_a_deeply_nested_policy_is_refused_before_the_engine_reads_it(acme_viewer):
    """regopy parses recursively in C++: 30,000 nested brackets (60 KB) crashed the process
    with SIGSEGV; brackets inside strings and comments do not count."""
    deep = RULES + "x := " + "[" * 30_000 + "]" * 30_000 + "\n"
    response = acme_viewer.post(VALIDATE, {"source": deep}, format="json")
    assert response.status_code == 400
    assert _error(response, "too_deep") == {
        "message": "line 8, column 134: nested deeper than 128 levels",
        "line": 8,
        "column": 134,
        "limit": 128,
    }
    fine = RULES + 'x := [[1], "[[[[", `{{{{`] # ((((\n' + "y := " + "[" * 100 + "]" * 100
    response = acme_viewer.post(VALIDATE, {"source": fine + "\n"}, format="json")
    assert response.status_code == 200, response.content


def test_a_deep_report_is_too_deep_through_the_upload_path(acme_analyst):
    report = CDX + b'"components": [{"name": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000
    response = acme_analyst.post(
        "/api/v1/scans/",
        {"file": upload(report + b"}]}"), "application": "shop"},
        format="multipart",
    )
    assert response.status_code == 400, response.content
    details = _error(response, "too_deep")
    assert details["pointer"] == "/components/0"
    assert details["limit"] == 128
    assert details["format"] == "cyclonedx-json"
    assert not Scan.objects.exists()


def test_the_upload_path_reads_the_setting_when_it_parses(acme_analyst):
    report = sarif([Result()])
    with override_settings(FIXOPS_MAX_INPUT_DEPTH=3):
        response = acme_analyst.post(
            "/api/v1/scans/", {"file": upload(report), "application": "shop"}, format="multipart"
        )
    assert response.status_code == 400
    assert _error(response, "too_deep")["limit"] == 3


def _gitleaks(count: int) -> bytes:
    item = '{"RuleID": "r%d", "File": "f", "StartLine": 1, "Secret": "s", "Fingerprint": "f:r:%d"}'
    return ("[" + ",".join(item % (i, i) for i in range(count)) + "]").encode()


@override_settings(FIXOPS_UPLOAD_MEMORY_MB=1)  # 1 MiB / 4 KiB per result: 256 results
def test_a_report_denser_than_the_memory_budget_is_413_and_stores_nothing(acme_analyst):
    def post(count: int):
        return acme_analyst.post(
            "/api/v1/scans/",
            {"file": upload(_gitleaks(count)), "application": "shop", "format": "gitleaks"},
            format="multipart",
        )

    response = post(257)
    assert response.status_code == 413, response.content
    assert _error(response, "too_many_results") == {
        "limit": 256,
        "setting": "FIXOPS_UPLOAD_MEMORY_MB",
    }
    assert not Scan.objects.exists()
    response = post(256)
    assert response.status_code == 201, response.content
    assert response.json()["counts"]["findings_new"] == 256


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_json_body_over_the_memory_limit_is_413(acme_viewer):
    """DRF reads the stream itself, past Django's check: it read any size whole."""
    response = _body(acme_viewer, VALIDATE, json.dumps({"source": "x" * 2000}).encode())
    assert response.status_code == 413
    assert _error(response, "too_large") == {"limit_bytes": 1000}
    assert _body(acme_viewer, VALIDATE, b'{"source": "package x"}').status_code == 400


def test_too_many_form_fields_answer_in_the_error_shape(acme_analyst):
    fields = {f"f{i}": "x" for i in range(1_100)}
    response = acme_analyst.post(
        "/api/v1/scans/",
        {"file": upload(sarif([Result()])), "application": "shop", **fields},
        format="multipart",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert _error(response, "too_many_fields") == {"limit": 1000}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_form_fields_over_the_memory_limit_are_413_in_the_error_shape(acme_analyst):
    response = acme_analyst.post(
        "/api/v1/scans/",
        {"file": upload(sarif([Result()])), "application": "shop", "commit": "x" * 2000},
        format="multipart",
    )
    assert response.status_code == 413
    assert _error(response, "too_large") == {"limit_bytes": 1000}


def test_a_chunked_body_no_server_terminated_is_411(acme_analyst):
    response = acme_analyst.post(
        "/api/v1/scans/",
        data=b"",
        content_type="multipart/form-data; boundary=x",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert response.status_code == 411
    _error(response, "length_required")
    assert "Content-Length" in response.json()["error"]["message"]


def _wsgi_chunked(token: str, body: bytes, content_type: str) -> tuple[str, dict]:
    """POST /api/v1/scans/ through fixops.wsgi as gunicorn presents a de-chunked body."""
    environ: dict = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/scans/",
        "CONTENT_TYPE": content_type,
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "SERVER_NAME": "localhost",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
    }
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)
    answer: list[str] = []
    # as Django's test client does: the request must not close the test's connection
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = wsgi_application(environ, lambda status, headers: answer.append(status))
        body = b"".join(chunks)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer[0], json.loads(body)


def test_a_chunked_upload_the_server_terminated_is_imported(acme, issue_token):
    body, content_type = multipart_body(sarif([Result()]))
    status, answer = _wsgi_chunked(issue_token(acme, role="analyst"), body, content_type)
    assert status.startswith("201"), answer
    assert answer["counts"]["findings_new"] == 1


def test_a_chunked_upload_past_the_limit_is_413(acme, issue_token):
    body, content_type = multipart_body(b"x" * 200_000)
    with override_settings(FIXOPS_UPLOAD_MAX_BYTES=1000):
        status, answer = _wsgi_chunked(issue_token(acme, role="analyst"), body, content_type)
    assert status.startswith("413")
    assert answer["error"]["code"] == "too_large"
    assert answer["error"]["details"] == {"limit_bytes": 1000}
