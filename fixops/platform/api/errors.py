"""One error body for the whole API: {"error": {"code", "message", "details"}}.

DRF exceptions, Django's 404/403 and unhandled errors all leave in this shape, so a client
needs one parser. `code` is stable and machine-readable; `message` is for people; `details`
points at what was wrong (field errors, JSON pointers, limits).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found as html_404
from django.views.defaults import server_error as html_500
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fixops.platform.deletion import delete_blocked
from fixops.platform.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unavailable,
    UpstreamFailed,
)
from fixops.platform.request_id import current_request_id

logger = logging.getLogger(__name__)


_MESSAGES = {
    "invalid": "The request is not valid; see details.",
    "parse_error": "The request body could not be parsed.",
    "not_authenticated": "Authentication credentials were not provided.",
    "authentication_failed": "The credentials are not valid.",
    "permission_denied": "You do not have permission to perform this action.",
    "not_found": "Not found.",
    "method_not_allowed": "Method not allowed.",
    "unsupported_media_type": "Unsupported media type.",
    "throttled": "Too many requests.",
}


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details if details is not None else {},
            "request_id": current_request_id(),
        }
    }


# The HTTP status of each kind of domain refusal; a subclass takes its nearest listed base.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    Invalid: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UpstreamFailed: 502,
    Unavailable: 503,
    DomainError: 400,
}


def domain_status(exc: DomainError) -> int:
    """The HTTP status that answers `exc`."""
    for kind in type(exc).__mro__:
        if kind in DOMAIN_STATUS:
            return DOMAIN_STATUS[kind]
    return 400


def _input_shape(exc: SuspiciousOperation) -> Response:
    """Django's refusals of a request body's shape (raised while DRF parses it), which would
    otherwise leave as Django's HTML 400."""
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = f"The request has more than {limit} form fields."
        return Response(error_body("too_many_fields", message, {"limit": limit}), status=400)
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        message = f"The request has more than {limit} files."
        return Response(error_body("too_many_files", message, {"limit": limit}), status=400)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        message = f"The request body (outside files) exceeds {limit} bytes."
        return Response(error_body("too_large", message, {"limit_bytes": limit}), status=413)
    return Response(error_body("bad_request", "The request is malformed."), status=400)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler producing the FixOps error body."""
    if isinstance(exc, ProtectedError | RestrictedError):
        # Last resort: a service should have refused the delete itself (delete_or_conflict).
        exc = delete_blocked(exc)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=domain_status(exc))
    if isinstance(exc, SuspiciousOperation):
        return _input_shape(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unhandled: Django's 500 handler answers (see server_error)

    if isinstance(exc, exceptions.ValidationError):
        code, message, details = "invalid", _MESSAGES["invalid"], exc.detail
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        code = code if isinstance(code, str) else "error"
        detail = getattr(exc, "detail", "")
        message = str(detail) if isinstance(detail, str) else _MESSAGES.get(code, "Error.")
        details = None
        if isinstance(exc, exceptions.Throttled):
            # At least one second: a client told 0 would retry at once.
            wait = max(1, int(exc.wait or 1))
            response["Retry-After"] = str(wait)
            message = f"Too many requests; retry in {wait} s."
            details = {"retry_after": wait}
    response.data = error_body(code, message, details)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """Django 404 for URLs no view matched: JSON under /api/, HTML elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return html_404(request, exception)


def server_error(request):
    """Django 500: JSON under /api/ (without internals), HTML elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", "Internal server error; quote the request id."),
            status=500,
        )
    return html_500(request)
