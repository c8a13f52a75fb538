"""`POST /hooks/<public_id>/` (and without the slash): where vendors deliver webhooks.

Not a tenant API: the caller is a vendor, authenticated by what it signs (the integration's
webhook secret, checked by its vendor module), not by a session or token; so no CSRF, no
DRF parsers. The raw body is read here with a bound (FIXOPS_HOOK_MAX_BYTES: a Content-Length
over it is refused with 413 before reading; a chunked body is cut while read by
fixops/platform/api/chunked.py) because signatures cover the bytes as sent. Answers, in the
API's error shape when refused: 202 stored, 200 replay or nothing to follow, 404 unknown or
disabled integration, 400/401 not authentic or malformed, 413 too large, 405 not POST.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apps.connectors.inbound.receive import hook_receive
from apps.connectors.inbound.signatures import HookRejected
from fixops.platform import metrics
from fixops.platform.api.errors import domain_status, error_body
from fixops.platform.errors import DomainError, Invalid, TooLarge


def _body(request: HttpRequest) -> bytes:
    limit = settings.FIXOPS_HOOK_MAX_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Invalid("Content-Length is not a number.", code="bad_content_length") from None
    if length > limit:
        raise TooLarge(
            f"A webhook delivery is at most {limit} bytes.", details={"limit_bytes": limit}
        )
    return request.read(length) if length else b""


def _headers(request: HttpRequest) -> dict[str, str]:
    headers = dict(request.headers)
    if request.content_type:
        headers.setdefault("Content-Type", request.META.get("CONTENT_TYPE", ""))
    return headers


@csrf_exempt
def hook_view(request: HttpRequest, public_id: str) -> JsonResponse:
    """Verify one vendor delivery and store it in the inbox (see the module)."""
    if request.method != "POST":
        body = error_body("method_not_allowed", "Webhooks are delivered with POST.")
        return JsonResponse(body, status=405, headers={"Allow": "POST"})
    try:
        raw = _body(request)
        received = hook_receive(public_id=public_id[:64], headers=_headers(request), body=raw)
    except HookRejected as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status)
    except DomainError as exc:  # NotFound 404, Invalid (malformed) 400, TooLarge 413
        if isinstance(exc, TooLarge):
            metrics.inbound_deliveries.labels("unknown", "too_large").inc()
        body = error_body(exc.code, exc.message, exc.details)
        return JsonResponse(body, status=domain_status(exc))
    return JsonResponse(
        {"status": received.outcome, "delivery_id": received.delivery_id},
        status=received.status,
    )


urlpatterns = [
    path("<str:public_id>/", hook_view, name="hook"),
    path("<str:public_id>", hook_view, name="hook-no-slash"),
]
