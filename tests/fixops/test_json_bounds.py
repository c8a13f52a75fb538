"""JSON from outside the API (vendor and IdP answers, feeds, admin text fields) is read by
`fixops.platform.jsondepth.loads`: nesting past FIXOPS_MAX_INPUT_DEPTH is a ValueError that each
caller already turns into its "not JSON" outcome, never a RecursionError escaping as a 500."""

from __future__ import annotations

import pytest
import requests
from django.test import override_settings

from apps.intel.feeds.osv import InvalidRecord, parse_record
from fixops.platform import jsondepth
from fixops.platform.http.errors import PermanentError
from fixops.platform.http.responses import error_text, json_body

DEEP = b"[" * 100_000 + b"]" * 100_000


def _response(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content, response.url = status, body, "http://vendor/x"
    response.headers["Content-Type"] = "application/json"
    return response


def test_loads_refuses_past_the_limit_with_a_pointer_and_reads_up_to_it():
    with pytest.raises(jsondepth.TooDeepJSON) as caught:
        jsondepth.loads(b'{"a": [' + b"[" * 200 + b"]" * 200 + b"]}")
    assert caught.value.limit == 128 and caught.value.pointer.startswith("/a/0/0")
    assert isinstance(caught.value, ValueError)
    assert jsondepth.loads("[" * 128 + "]" * 128) is not None  # exactly the limit reads
    with override_settings(FIXOPS_MAX_INPUT_DEPTH=2):
        assert jsondepth.loads('{"a": [1]}') == {"a": [1]}
        with pytest.raises(jsondepth.TooDeepJSON):
            jsondepth.loads('{"a": [[1]]}')


def test_a_deep_vendor_answer_is_a_permanent_error_not_a_crash():
    with pytest.raises(PermanentError, match="expected JSON"):
        json_body(_response(DEEP), label="Jira")
    assert error_text(_response(DEEP, status=400))  # falls back to the text, no RecursionError


def test_a_deep_osv_record_is_an_invalid_record():
    with pytest.raises(InvalidRecord, match="not JSON"):
        parse_record(DEEP)
