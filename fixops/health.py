"""Liveness and readiness probes.

/healthz answers as long as the process serves requests (no dependencies checked).
/readyz checks what a request needs: the database and the broker, and reports beat's last
heartbeat. A stale beat makes the status "degraded" but not 503: pulling every web node out
of a load balancer because the single beat process died would turn a scheduling problem into
an outage.

The unauthenticated answer is only `{"status": ...}` (with the same status codes, which is all
a load balancer or Kubernetes reads): the checks name the database vendor, the broker and the
scheduler's state, which tell an outsider what to attack. The details come with
`Authorization: Bearer <FIXOPS_PROBE_TOKEN>` (monitoring) or an authenticated caller (a signed-in
session or any live API token).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.intel.feeds.status import feed_statuses
from apps.tenants.services import TokenError, api_token_authenticate
from fixops.celery import app as celery_app
from fixops.models import Heartbeat


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **(check() or {})}
    except Exception as exc:  # noqa: BLE001 — a probe reports any failure, it never raises
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _broker() -> dict:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": conn.transport.driver_type}


def _beat() -> dict:
    row = Heartbeat.objects.filter(source="beat").first()
    if row is None:
        return {"status": "never", "last_seen": None, "age_seconds": None}
    age = (timezone.now() - row.last_seen).total_seconds()
    stale = age > settings.FIXOPS_BEAT_MAX_AGE
    return {
        "status": "stale" if stale else "ok",
        "last_seen": row.last_seen.isoformat(),
        "age_seconds": round(age, 1),
        "beats": row.beats,
    }


def _feeds() -> list[dict]:
    """Each intel feed's last success, row count, version, last error and age."""
    try:
        return feed_statuses()
    except Exception as exc:  # noqa: BLE001 — a probe reports any failure, it never raises
        return [{"error": f"{type(exc).__name__}: {exc}"[:300]}]


def _may_see_details(request: HttpRequest) -> bool:
    """A signed-in user, the probe token or a live API token; never an error for a bad one
    (a probe's answer must not depend on what an anonymous caller sends)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return False
    probe_token = settings.FIXOPS_PROBE_TOKEN
    if probe_token and constant_time_compare(value, probe_token):
        return True
    try:
        api_token_authenticate(value)
    except TokenError:
        return False
    return True


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    checks = {"database": _timed(_database), "broker": _timed(_broker)}
    checks["beat"] = _timed(_beat) if checks["database"]["ok"] else {"ok": False}
    beat_ok = checks["beat"]["ok"] = checks["beat"].get("status") == "ok"
    ready = checks["database"]["ok"] and checks["broker"]["ok"]
    status = "ok" if ready and beat_ok else ("degraded" if ready else "unavailable")
    http_status = 200 if ready else 503
    if not _may_see_details(request):
        return JsonResponse({"status": status}, status=http_status)
    # Feeds are informational: stale intel must not take web nodes out of the load balancer.
    feeds = _feeds() if checks["database"]["ok"] else []
    body = {"status": status, "checks": checks, "feeds": feeds}
    return JsonResponse(body, status=http_status)
