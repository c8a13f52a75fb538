"""What a remote answered: its own error text, and whether a failure is worth retrying.

- 2xx passes.
- 408/409/429, 5xx and rate-limited 403s are TransientError (with `retry_after` from
  Retry-After, seconds or HTTP date, or the rate-limit reset header).
- 401/403 are PermanentError "credentials rejected".
- Every other 4xx (and 3xx: redirects are not followed) is PermanentError carrying the
  remote's own error text.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from fixops.platform import jsondepth
from fixops.platform.http.errors import PermanentError, TransientError
from fixops.platform.http.retry import retry_after_from

MAX_ERROR_TEXT = 500


def _flatten(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    if isinstance(value, dict):
        for key in ("message", "detail", "title", "error_description"):
            if isinstance(value.get(key), str) and value[key]:
                texts = [value[key]]
                if key != "detail" and isinstance(value.get("detail"), str) and value["detail"]:
                    texts.append(value["detail"])
                return texts
        return [f"{k}: {'; '.join(_flatten(v))}" for k, v in value.items() if _flatten(v)]
    return [str(value)]


def error_text(response: requests.Response) -> str:
    """The remote's own error text, whatever the shape of its error body.

    JSON bodies are searched for the usual keys ("errorMessages", "message", "error", "errors",
    "error_description", "detail"), each a string, a list, or an object of field -> messages
    (RFC 7807 problem details and OAuth errors included); other bodies give their text."""
    try:
        data = jsondepth.loads(response.content)
    except ValueError:
        text = (response.text or "").strip()
        return clip(text or response.reason or "no error text")
    parts: list[str] = []
    if isinstance(data, dict):
        for key in ("errorMessages", "message", "error", "errors", "error_description", "detail"):
            if key in data:
                parts.extend(_flatten(data[key]))
        if not parts:
            parts = _flatten(data)
    else:
        parts = _flatten(data)
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return clip("; ".join(seen) or json.dumps(data)[:MAX_ERROR_TEXT])


def clip(text: str) -> str:
    """One line of at most MAX_ERROR_TEXT characters."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


def _rate_limited_403(response: requests.Response) -> bool:
    headers = response.headers
    return (
        "Retry-After" in headers
        or headers.get("X-RateLimit-Remaining", "").strip() == "0"
        or "rate limit" in (response.text or "").lower()[:2000]
    )


def raise_for_status(response: requests.Response, *, label: str) -> requests.Response:
    """Map an answer onto TransientError / PermanentError (2xx is returned unchanged)."""
    status = response.status_code
    if 200 <= status < 300:
        return response
    request = response.request
    where = f"{request.method} {urlsplit(request.url or '').path}" if request else label
    text = error_text(response)
    retry_after = retry_after_from(response)
    if status in (401, 403):
        if status == 403 and _rate_limited_403(response):
            raise TransientError(
                f"{label}: rate limited (HTTP 403) on {where}: {text}",
                status=status,
                retry_after=retry_after,
                text=text,
            )
        raise PermanentError(
            f"{label}: credentials rejected (HTTP {status}) on {where}: {text}",
            status=status,
            text=text,
        )
    if status in (408, 409, 429) or status >= 500:
        raise TransientError(
            f"{label}: HTTP {status} on {where}: {text}",
            status=status,
            retry_after=retry_after,
            text=text,
        )
    if 300 <= status < 400:
        raise PermanentError(
            f"{label}: unexpected redirect (HTTP {status}) on {where} to "
            f"{response.headers.get('Location', '?')}; check the base URL",
            status=status,
        )
    raise PermanentError(f"{label}: HTTP {status} on {where}: {text}", status=status, text=text)


def json_body(response: requests.Response, *, label: str) -> Any:
    """The JSON body of a 2xx answer; a non-JSON answer (an SSO page, a proxy) is permanent."""
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return jsondepth.loads(response.content)
    except ValueError as exc:
        ctype = response.headers.get("Content-Type", "?")
        raise PermanentError(
            f"{label}: expected JSON from {urlsplit(response.url).path}, got {ctype}: "
            f"{clip(response.text[:200])}",
            status=response.status_code,
        ) from exc
