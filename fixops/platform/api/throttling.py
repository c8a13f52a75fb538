"""API throttling: fixed-window counters in Django's cache, shared by every web worker.

DRF's SimpleRateThrottle keeps a list of timestamps per key and writes it back after reading
it: two workers answering at once both read the same list and one increment is lost, and a
"600/min" limit stores 600 floats per key. Here each key is one integer per window, raised
with the cache's atomic `incr` (Redis INCRBY in production, a locked dict in local memory),
so concurrent workers never lose a count and a check costs one or two cache round trips.
A fixed window lets a client send up to twice the rate across a window boundary; the limits
guard capacity, not billing, so that is accepted.

Rates are "N/s", "N/min", "N/hour" or "N/day" (also "N/second" ... "N/d"); an empty value or
"none" switches that limit off. They are read from settings at request time (tests override
them with `settings`). The classes (all in DEFAULT_THROTTLE_CLASSES, fixops/settings/
components/drf.py, except the webhook one, which inbound webhook views name themselves):

- `CredentialRateThrottle`: FIXOPS_API_RATE per API token, else per signed-in user, on
  every endpoint (anonymous callers per client address).
- `UploadRateThrottle`: FIXOPS_UPLOAD_RATE per token/user on the methods a view lists in
  `upload_throttle_methods` (POST /scans/ and POST /decisions/; polling GETs are free).
- `TenantRateThrottle`: FIXOPS_TENANT_RATE per tenant, all credentials of it together.
- `IntegrationWebhookThrottle`: FIXOPS_WEBHOOK_RATE per integration, for inbound webhooks;
  the integration comes from the view's URL keyword `webhook_integration_kwarg`.

A refused request is a 429 with `Retry-After` (seconds until the window ends) and the error
body `{"error": {"code": "throttled", "details": {"retry_after": N}}}`.
"""

from __future__ import annotations

import abc
import time

from django.conf import settings
from django.core.cache import caches
from django.core.checks import Error, Tags, register
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """("600/min") -> (600, 60); None when the limit is off. ValueError when malformed."""
    if rate is None or not str(rate).strip() or str(rate).strip().lower() == "none":
        return None
    count, _, period = str(rate).strip().partition("/")
    period = period.strip().lower()
    digits = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(digits) :][:1]
    if not count.strip().isdigit() or unit not in _PERIODS:
        raise ValueError(f"a rate is 'N/s', 'N/min', 'N/hour' or 'N/day', not {rate!r}")
    return int(count), (int(digits) if digits else 1) * _PERIODS[unit]


class WindowThrottle(BaseThrottle, metaclass=abc.ABCMeta):
    """Allow `rate` requests per window for each key from `get_ident_key`; subclasses set
    `scope` and `rate_setting` and may return None from `get_ident_key` to not apply."""

    scope = ""
    rate_setting = ""

    def __init__(self) -> None:
        self.wait_seconds: float | None = None
        self.limit: tuple[int, int] | None = None

    @abc.abstractmethod
    def get_ident_key(self, request, view) -> str | None:
        """The key this throttle counts for `request`; every subclass names its own."""

    def allow_request(self, request, view) -> bool:
        self.limit = parse_rate(getattr(settings, self.rate_setting, None))
        if self.limit is None:
            return True
        ident = self.get_ident_key(request, view)
        if ident is None:
            return True
        allowed, duration = self.limit
        now = time.time()
        window = int(now // duration)
        key = f"fixops:throttle:{self.scope}:{ident}:{duration}:{window}"
        count = _increment(key, timeout=duration + 1)
        if count <= allowed:
            return True
        self.wait_seconds = (window + 1) * duration - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds


def _increment(key: str, *, timeout: int) -> int:
    """The key's count after adding one; atomic across processes on a shared cache."""
    cache = caches[getattr(settings, "FIXOPS_THROTTLE_CACHE", "default")]
    try:
        return cache.incr(key)
    except ValueError:  # no counter in this window yet
        if cache.add(key, 1, timeout=timeout):
            return 1
        return cache.incr(key)  # another worker created it in between


def credential_key(request) -> str:
    """The token (`request.auth` of the bearer scheme), else the user, else the address."""
    token_id = getattr(request.auth, "pk", None)
    if token_id is not None:
        return f"token:{token_id}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "pk", None) is not None:
        return f"user:{user.pk}"
    return f"addr:{request.META.get('REMOTE_ADDR', '')}"


class CredentialRateThrottle(WindowThrottle):
    scope = "api"
    rate_setting = "FIXOPS_API_RATE"

    def get_ident_key(self, request, view) -> str | None:
        return credential_key(request)


class UploadRateThrottle(WindowThrottle):
    scope = "upload"
    rate_setting = "FIXOPS_UPLOAD_RATE"

    def get_ident_key(self, request, view) -> str | None:
        if request.method not in getattr(view, "upload_throttle_methods", ()):
            return None
        return credential_key(request)


class TenantRateThrottle(WindowThrottle):
    scope = "tenant"
    rate_setting = "FIXOPS_TENANT_RATE"

    def get_ident_key(self, request, view) -> str | None:
        # request.tenant is set by the tenant permission, which DRF checks before throttles.
        tenant = getattr(request, "tenant", None)
        return None if tenant is None else f"tenant:{tenant.pk}"


class IntegrationWebhookThrottle(WindowThrottle):
    scope = "webhook"
    rate_setting = "FIXOPS_WEBHOOK_RATE"

    def get_ident_key(self, request, view) -> str | None:
        kwarg = getattr(view, "webhook_integration_kwarg", "integration_id")
        integration = getattr(view, "kwargs", {}).get(kwarg)
        return None if integration is None else f"integration:{integration}"


RATE_SETTINGS = (
    "FIXOPS_API_RATE",
    "FIXOPS_UPLOAD_RATE",
    "FIXOPS_TENANT_RATE",
    "FIXOPS_WEBHOOK_RATE",
)


@register(Tags.security)
def check_rates(app_configs=None, **kwargs) -> list[Error]:
    """A malformed rate fails at start-up, not as a 500 on the first request."""
    errors = []
    for name in RATE_SETTINGS:
        try:
            parse_rate(getattr(settings, name, None))
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="fixops.E110"))
    return errors
