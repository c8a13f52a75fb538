"""The shared HTTP transport of every vendor client.

- Mandatory (connect, read) timeouts on every request.
- No retries at all (no urllib3 Retry, no redirects followed): a POST that may have reached the
  vendor must not be sent twice behind the outbox's back; retries belong to the outbox.
- The SSRF guard again at connection time, on the addresses actually connected to (a DNS answer
  that changed since the integration was configured is still refused).
- Environment proxies are ignored (a proxy would hide the real destination from the guard).
- Status -> error mapping: 2xx passes; 408/409/429, 5xx and rate-limited 403s are
  `TransientError` (with `retry_after` from Retry-After — seconds or HTTP date — or the
  vendor's rate-limit reset header); 401/403 are `PermanentError` "credentials rejected";
  every other 4xx (and 3xx) is `PermanentError` carrying the vendor's own error text.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from apps.connectors import ssrf
from apps.connectors.base import PermanentError, TransientError

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
USER_AGENT = "FixOps-connector/1.0"
MAX_ERROR_TEXT = 500


class _GuardedConnectionMixin:
    """Resolve, vet every address with the SSRF guard, then connect to a vetted address.

    TLS (SNI and certificate checks) still uses the host name: only the TCP target changes."""

    _dns_host: str
    port: int

    def _new_conn(self):  # type: ignore[no-untyped-def]
        addresses = ssrf.check_host(self._dns_host, self.port)  # UnsafeURL propagates
        host = self._dns_host
        last_error: Exception | None = None
        for address in addresses:
            self._dns_host = address
            try:
                return super()._new_conn()  # type: ignore[misc]
            except (NewConnectionError, ConnectTimeoutError) as exc:
                last_error = exc
            finally:
                self._dns_host = host
        assert last_error is not None
        raise last_error


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections pass the SSRF guard and which never retries."""

    def __init__(self) -> None:
        super().__init__(max_retries=0, pool_connections=4, pool_maxsize=8)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


# ---------------------------------------------------------------------------------------------
# Retry-After and vendor error text


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value: delta-seconds or an HTTP date (never < 0)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max((when - now).total_seconds(), 0.0)


def _parse_reset(value: str | None) -> float | None:
    """A rate-limit reset header: epoch seconds (GitHub, GitLab, ServiceNow, ADO) or ISO-8601
    (Jira X-RateLimit-Reset)."""
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - datetime.now(UTC)).total_seconds(), 0.0)
    if number > 1_000_000_000:  # an epoch timestamp
        return max(number - time.time(), 0.0)
    return max(number, 0.0)


def retry_after_from(response: requests.Response) -> float | None:
    """Retry-After first; else the vendor's rate-limit reset header when the call was limited."""
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    if response.status_code in (403, 429):
        for header in ("X-RateLimit-Reset", "RateLimit-Reset"):
            seconds = _parse_reset(response.headers.get(header))
            if seconds is not None:
                return seconds
    return None


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


def vendor_error_text(response: requests.Response) -> str:
    """The vendor's own error text, whatever its error body shape.

    Jira {"errorMessages":[…],"errors":{field: msg}}, ServiceNow {"error":{"message","detail"}},
    GitLab {"message": str | {field: [msgs]}} / {"error": …}, GitHub {"message","errors":[…]},
    Azure DevOps {"message","typeKey"}, Slack {"ok":false,"error"}, Confluence v2
    {"errors":[{"title","detail"}]} / v1 {"message"}."""
    try:
        data = response.json()
    except ValueError:
        text = (response.text or "").strip()
        return _clip(text or response.reason or "no error text")
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
    return _clip("; ".join(seen) or json.dumps(data)[:MAX_ERROR_TEXT])


def _clip(text: str) -> str:
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
    """Map a vendor answer onto TransientError / PermanentError (2xx is returned unchanged)."""
    status = response.status_code
    if 200 <= status < 300:
        return response
    request = response.request
    where = f"{request.method} {urlsplit(request.url or '').path}" if request else label
    text = vendor_error_text(response)
    retry_after = retry_after_from(response)
    if status in (401, 403):
        if status == 403 and _rate_limited_403(response):
            raise TransientError(
                f"{label}: rate limited (HTTP 403) on {where}: {text}",
                status=status,
                retry_after=retry_after,
            )
        raise PermanentError(
            f"{label}: credentials rejected (HTTP {status}) on {where}: {text}", status=status
        )
    if status in (408, 409, 429) or status >= 500:
        raise TransientError(
            f"{label}: HTTP {status} on {where}: {text}", status=status, retry_after=retry_after
        )
    if 300 <= status < 400:
        raise PermanentError(
            f"{label}: unexpected redirect (HTTP {status}) on {where} to "
            f"{response.headers.get('Location', '?')}; check the base URL",
            status=status,
        )
    raise PermanentError(f"{label}: HTTP {status} on {where}: {text}", status=status)


def json_body(response: requests.Response, *, label: str) -> Any:
    """The JSON body of a 2xx answer; a non-JSON answer (an SSO page, a proxy) is permanent."""
    if response.status_code == 204 or not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:
        ctype = response.headers.get("Content-Type", "?")
        raise PermanentError(
            f"{label}: expected JSON from {urlsplit(response.url).path}, got {ctype}: "
            f"{_clip(response.text[:200])}",
            status=response.status_code,
        ) from exc


# ---------------------------------------------------------------------------------------------
# The session


class VendorSession(requests.Session):
    """A requests.Session with the guarded adapter, mandatory timeouts and error mapping.

    `request()` returns only 2xx responses; everything else raises a ConnectorError."""

    def __init__(
        self,
        *,
        label: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        check_status: Callable[[requests.Response], None] | None = None,
    ) -> None:
        super().__init__()
        if not timeout or any(t is None or t <= 0 for t in timeout):
            raise ValueError("a positive (connect, read) timeout is mandatory")
        self.label = label
        self.timeout = timeout
        self.trust_env = False  # no environment proxies, no .netrc credentials
        adapter = GuardedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = USER_AGENT
        self.headers["Accept"] = "application/json"
        self._check_status = check_status

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        timeout = kwargs.pop("timeout", None) or self.timeout
        kwargs["allow_redirects"] = False
        try:
            response = super().request(method, url, *args, timeout=timeout, **kwargs)
        except ssrf.UnsafeURL as exc:
            if isinstance(exc, ssrf.Unresolvable):
                raise TransientError(f"{self.label}: {exc}") from exc
            raise PermanentError(f"{self.label}: refused by the SSRF guard: {exc}") from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(
                f"{self.label}: timed out connecting to {_host(url)} after {timeout[0]}s"
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise TransientError(
                f"{self.label}: no answer from {_host(url)} within {timeout[1]}s "
                f"({method} outcome unknown)"
            ) from exc
        except requests.exceptions.SSLError as exc:
            raise PermanentError(f"{self.label}: TLS failure with {_host(url)}: {exc}") from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader,
        ) as exc:
            raise PermanentError(f"{self.label}: invalid request: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise TransientError(
                f"{self.label}: connection to {_host(url)} failed "
                f"({method} outcome unknown): {_clip(str(exc))}"
            ) from exc
        if self._check_status is not None:
            self._check_status(response)
        return raise_for_status(response, label=self.label)


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or url
    except ValueError:
        return url


def build_session(
    *,
    label: str,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    headers: dict[str, str] | None = None,
    auth: Any = None,
    check_status: Callable[[requests.Response], None] | None = None,
) -> VendorSession:
    """The session every vendor client uses (see the module docstring)."""
    session = VendorSession(label=label, timeout=timeout, check_status=check_status)
    if headers:
        session.headers.update(headers)
    if auth is not None:
        session.auth = auth
    return session
