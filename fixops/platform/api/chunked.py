"""Request bodies sent with `Transfer-Encoding: chunked` (no Content-Length).

Django reads a body only up to CONTENT_LENGTH, so a chunked upload reached the view empty
("No file was submitted"). When the server has de-chunked the body and marks its end
(`wsgi.input_terminated`, which gunicorn sets), `sized_chunked_bodies` copies it to a spooled
temporary file, at most FIXOPS_UPLOAD_MAX_BYTES plus multipart overhead (else 413), and
hands Django a sized body. A chunked request no server terminated cannot be read safely and
is answered 411 by `ChunkedBodyMiddleware`, in the API's error shape.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import JsonResponse

from fixops.platform.api.errors import error_body

_CHUNK = 64 * 1024
_IN_MEMORY = 1024 * 1024
# Room for the multipart envelope and form fields around a report of the maximum size.
MULTIPART_OVERHEAD = 64 * 1024


def _chunked(environ: dict[str, Any]) -> bool:
    encoding = str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
    return "chunked" in encoding and not environ.get("CONTENT_LENGTH")


def sized_chunked_bodies(app: Callable) -> Callable:
    """WSGI middleware: a terminated chunked body becomes a sized one (see the module)."""

    def application(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not (_chunked(environ) and environ.get("wsgi.input_terminated")):
            return app(environ, start_response)
        limit = _limit(environ)
        # no context manager: the spool is the request body for the rest of the request
        spool = tempfile.SpooledTemporaryFile(max_size=_IN_MEMORY)  # noqa: SIM115
        size = 0
        while chunk := environ["wsgi.input"].read(_CHUNK):
            size += len(chunk)
            if size > limit:
                spool.close()
                return _too_large(start_response, environ)
            spool.write(chunk)
        spool.seek(0)
        environ["CONTENT_LENGTH"] = str(size)
        environ["wsgi.input"] = spool
        return app(environ, start_response)

    return application


def _limit(environ: dict[str, Any]) -> int:
    """How much of a chunked body is read: inbound webhook deliveries (/hooks/) are bounded
    by FIXOPS_HOOK_MAX_BYTES, everything else by the upload limit."""
    if _hook(environ):
        return settings.FIXOPS_HOOK_MAX_BYTES
    return settings.FIXOPS_UPLOAD_MAX_BYTES + MULTIPART_OVERHEAD


def _hook(environ: dict[str, Any]) -> bool:
    return str(environ.get("PATH_INFO", "")).startswith("/hooks/")


def _too_large(start_response: Callable, environ: dict[str, Any]) -> list[bytes]:
    limit = settings.FIXOPS_HOOK_MAX_BYTES if _hook(environ) else settings.FIXOPS_UPLOAD_MAX_BYTES
    body = error_body(
        "too_large",
        f"The chunked request body exceeds the limit of {limit} bytes.",
        {"limit_bytes": limit},
    )
    payload = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response("413 Content Too Large", [*headers, ("Connection", "close")])
    return [payload]


class ChunkedBodyMiddleware:
    """411 for a chunked body the server did not de-chunk and terminate (see the module)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if _chunked(request.META) and not request.META.get("wsgi.input_terminated"):
            body = error_body(
                "length_required",
                "A chunked request body cannot be read by this server; send Content-Length.",
            )
            return JsonResponse(body, status=411)
        return self.get_response(request)
