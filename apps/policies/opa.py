"""An external OPA server as the evaluator, through its REST API (same input, same result).

Before the first evaluation of a policy version on a server, FixOps uploads the module
(`PUT /v1/policies/fixops-gate`) and its parameters (`PUT /v1/data/fixops/params`), then asks
`POST /v1/data/fixops/gate` with `{"input": ...}`. Any failure raises EngineError: the gate
fails closed exactly as with the in-process engine.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import requests

from apps.policies import engine
from apps.policies.digests import policy_digest
from apps.policies.profiles import policy_view, profile_members
from fixops.platform import jsondepth
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError, Refused
from fixops.platform.http.session import build_session

TIMEOUT = (3.0, 10.0)
_uploaded: dict[str, str] = {}  # server URL -> digest uploaded by this process
_lock = threading.Lock()
# The tenant chooses the URL: every connection passes the SSRF guard (FIXOPS_OUTBOUND_ALLOWLIST
# admits an internal OPA), and nothing is retried here. A server that keeps failing trips its
# circuit breaker, so the gates that follow close at once instead of each waiting for a timeout.
_session = build_session(label="OPA", timeout=TIMEOUT)


def _breaker_key(url: str) -> str:
    parts = urlsplit(url)
    return f"opa:{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"[:200]


def _call(method: str, url: str, **kwargs) -> requests.Response:
    try:
        with breaker.guarded(_breaker_key(url)):
            return _session.request(method, url, **kwargs)
    except Refused as exc:
        raise engine.EngineError(
            f"OPA at {url} is refused by the outbound guard: {exc.text}"
        ) from None
    except OutboundError as exc:
        if exc.status is not None:
            raise engine.EngineError(f"OPA answered {exc.status} to {method}: {exc.text}") from None
        raise engine.EngineError(f"OPA at {url} is unreachable: {exc}") from None


def evaluate(base_url: str, source: str, parameters: dict, document: dict) -> engine.Evaluation:
    base = base_url.rstrip("/")
    digest = policy_digest(source, parameters)
    for attempt in range(2):
        with _lock:
            uploaded = _uploaded.get(base) == digest
        if not uploaded:
            _upload(base, source, parameters, digest)
        response = _call(
            "POST", f"{base}/v1/data/fixops/gate", json={"input": policy_view(document)}
        )
        try:
            body = jsondepth.loads(response.content)
        except ValueError:
            raise engine.EngineError("OPA answered something that is not JSON") from None
        if isinstance(body.get("result"), dict):
            return engine.interpret(body["result"], profile_members(document))
        if uploaded and attempt == 0:  # the server lost our module (restart): upload again
            forget()
            continue
        break
    raise engine.EngineError("data.fixops.gate is undefined on the OPA server")


def _upload(base: str, source: str, parameters: dict, digest: str) -> None:
    _call(
        "PUT",
        f"{base}/v1/policies/fixops-gate",
        data=source.encode(),
        headers={"Content-Type": "text/plain"},
    )
    _call("PUT", f"{base}/v1/data/fixops/params", json=parameters)
    with _lock:
        _uploaded[base] = digest


def forget() -> None:
    """Drop the upload memo (tests; a restarted OPA server loses its policies too)."""
    with _lock:
        _uploaded.clear()
