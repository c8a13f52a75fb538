"""The requests session every outbound call goes through.

- Mandatory (connect, read) timeouts on every request.
- No hidden retries (no urllib3 Retry): a POST that may have reached the remote must not be
  sent twice behind its caller's back; idempotent callers retry with retry.with_retries.
- Redirects are not followed unless the caller says so (a redirect could lead anywhere).
- The SSRF guard again at connection time, on the addresses actually connected to (a DNS answer
  that changed since the URL was configured is still refused). On by default; callers whose
  URLs come from the operator's own settings rather than from a tenant (feed mirrors, the
  identity provider) may turn it off.
- Environment proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, .netrc) are ignored: the only way
  out through a proxy is FIXOPS_OUTBOUND_PROXY, read on every request. Through a proxy the
  connection goes to the proxy (the operator's own, so not vetted), and the guard vets the
  target's addresses before the request leaves; the proxy resolves the name again itself, so
  it should refuse internal destinations too (docs/security.md).
- Transport failures become TransientError / PermanentError; answers are mapped by
  responses.raise_for_status unless the caller reads statuses itself (`map_status=False`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.checks import Error, register
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from fixops.platform.http import ssrf
from fixops.platform.http.errors import PermanentError, Refused, TransientError
from fixops.platform.http.responses import clip, raise_for_status

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
USER_AGENT = "FixOps/1.0"


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

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # Through a proxy the guarded connection would only see the proxy's address: vet the
        # target here (redirects come back through send, and are vetted too).
        if select_proxy(request.url, kwargs.get("proxies") or {}):
            parts = urlsplit(request.url)
            default_port = 443 if parts.scheme == "https" else 80
            ssrf.check_host(parts.hostname or "", parts.port or default_port)
        return super().send(request, *args, **kwargs)


class GuardedSession(requests.Session):
    """A requests.Session with the guarded adapter, mandatory timeouts and error mapping.

    `request()` returns only 2xx responses (any response with `map_status=False`); every
    failure raises a TransientError or PermanentError whose message starts with `label`."""

    def __init__(
        self,
        *,
        label: str,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        check_status: Callable[[requests.Response], None] | None = None,
        ssrf_guard: bool = True,
        follow_redirects: bool = False,
        map_status: bool = True,
    ) -> None:
        super().__init__()
        if not timeout or any(t is None or t <= 0 for t in timeout):
            raise ValueError("a positive (connect, read) timeout is mandatory")
        self.label = label
        self.timeout = timeout
        self.trust_env = False  # no environment proxies, no .netrc credentials
        adapter = GuardedAdapter() if ssrf_guard else HTTPAdapter(max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.headers["User-Agent"] = USER_AGENT
        self.headers["Accept"] = "application/json"
        self._check_status = check_status
        self._follow_redirects = follow_redirects
        self._map_status = map_status

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        timeout = kwargs.pop("timeout", None) or self.timeout
        kwargs["allow_redirects"] = self._follow_redirects
        kwargs["proxies"] = outbound_proxies()
        try:
            response = super().request(method, url, *args, timeout=timeout, **kwargs)
        except ssrf.UnsafeURL as exc:
            if isinstance(exc, ssrf.Unresolvable):
                raise TransientError(f"{self.label}: {exc}") from exc
            raise Refused(f"{self.label}: refused by the SSRF guard: {exc}", text=str(exc)) from exc
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
                f"({method} outcome unknown): {clip(str(exc))}"
            ) from exc
        if self._check_status is not None:
            self._check_status(response)
        if not self._map_status:
            return response
        return raise_for_status(response, label=self.label)


def outbound_proxies() -> dict[str, str]:
    """The proxies of every outbound call: FIXOPS_OUTBOUND_PROXY for both schemes, or none."""
    proxy = getattr(settings, "FIXOPS_OUTBOUND_PROXY", "")
    return {"http": proxy, "https": proxy} if proxy else {}


@register()
def check_outbound_proxy(app_configs, **kwargs) -> list[Error]:
    """A malformed FIXOPS_OUTBOUND_PROXY fails `manage.py check`, not every outbound call."""
    proxy = getattr(settings, "FIXOPS_OUTBOUND_PROXY", "")
    if not proxy:
        return []
    try:
        parts = urlsplit(proxy)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port
    except ValueError:
        valid = False
    if valid:
        return []
    return [
        Error(
            # The value is not echoed: it may carry the proxy's password.
            "FIXOPS_OUTBOUND_PROXY is not a proxy URL.",
            hint="Use http://[user:password@]host:port (or https://).",
            id="fixops.E120",
        )
    ]


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
    ssrf_guard: bool = True,
    follow_redirects: bool = False,
    map_status: bool = True,
) -> GuardedSession:
    """The session every outbound caller uses (see the module docstring)."""
    session = GuardedSession(
        label=label,
        timeout=timeout,
        check_status=check_status,
        ssrf_guard=ssrf_guard,
        follow_redirects=follow_redirects,
        map_status=map_status,
    )
    if headers:
        session.headers.update(headers)
    if auth is not None:
        session.auth = auth
    return session
