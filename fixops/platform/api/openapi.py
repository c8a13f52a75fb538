"""drf-spectacular glue: unique names for nested serializers, paginated lists, error responses.

The schema must tell a generated client what really comes back:

- A view whose collection GET pages its rows declares `pagination_class` (PagePagination or
  KeysetPagination) and documents `responses=Row(many=True)`: the schema then shows the
  envelope that paginator writes (`count`/`next`/`previous`/`results`, or `next`/
  `previous`/`results` for keyset pages) and its query parameters.
- Every operation lists the error responses that can happen to it, in the error body of
  fixops/platform/api/errors.py (component `Error`): 401 and 403 when it needs credentials,
  429 when throttled (with `Retry-After`), 400 when it takes a body or validated query
  parameters, 404 when its path names an object or it pages. Codes only some operations
  answer (404 for a name in the body, 409, 413) are declared on the view with
  `errors(...)`. tests/fixops/test_openapi_truth.py holds every operation to this.
"""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny

ERROR_DESCRIPTIONS = {
    400: "The request is not valid: `details` names the fields or the pointer.",
    401: "No credentials, or an unknown, expired or revoked token.",
    403: "The caller's role or token scope does not allow this: `details.required` names "
    "the role or scope missing.",
    404: "No such object in the caller's tenant (another tenant's objects are not found "
    "either), or a page/cursor that does not exist.",
    406: "No representation the Accept header allows: the operation names its formats; "
    "ask with `?format=` or another Accept.",
    409: "The current state forbids it: `message` names what blocks it.",
    413: "The upload exceeds FIXOPS_UPLOAD_MAX_BYTES: `details.limit_bytes`.",
    502: "A system FixOps called (a vendor) answered with an error: `message` quotes it.",
    503: "A dependency of FixOps cannot be reached right now; retry later.",
    429: "A rate limit was reached (FIXOPS_API_RATE, FIXOPS_TENANT_RATE, "
    "FIXOPS_UPLOAD_RATE): retry after `Retry-After` seconds (also `details.retry_after`).",
}
BODY_METHODS = ("POST", "PUT", "PATCH")


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable, e.g. `throttled`.")
    message = serializers.CharField(help_text="For people.")
    details = serializers.JSONField(
        help_text="What was wrong: field errors, a pointer, limits, `required`, `retry_after`."
    )
    request_id = serializers.CharField(allow_null=True, help_text="Quote it to support.")


class ErrorSerializer(serializers.Serializer):
    """Every error of the API: {"error": {"code", "message", "details", "request_id"}}."""

    error = ErrorDetailSerializer()


def errors(*codes: int) -> dict:
    """Error responses to merge into `extend_schema(responses=...)` for codes only this
    operation answers (a 404 for a name in the body, 409, 413)."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
        for code in codes
    }


class AutoSchema(SpectacularAutoSchema):
    """Names nested `InputSerializer`s after their view (`TokenCollectionInput`), so the house
    style of one nested Input/Output serializer per view yields unique schema components;
    names a plain APIView's collection GET `<resource>_list` (spectacular would call both the
    collection and the detail GET `_retrieve`); adds the error responses (module docstring)."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        collection = not re.search(r"\{[^}]+\}/?$", self.path)
        if self.method == "GET" and collection and operation_id.endswith("_retrieve"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            owner = qualname.split(".")[0].removesuffix("Api")
            if not name.startswith(owner):
                name = owner + name
        return name

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        for code in self.error_codes():
            entry = responses.setdefault(
                str(code),
                {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": error}},
                },
            )
            if code == 429:
                entry.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds until the limit's window ends.",
                }
        return responses

    def error_codes(self) -> list[int]:
        """The error statuses every operation of this kind can answer."""
        codes = []
        if self._takes_input():
            codes.append(400)
        if self._needs_credentials():
            if any(_challenges(a) for a in self.view.get_authenticators()):
                codes.append(401)
            codes.append(403)
        if "{" in self.path or (self.method == "GET" and self._pages()):
            codes.append(404)
        if self.view.get_throttles():
            codes.append(429)
        return codes

    def _takes_input(self) -> bool:
        if self.method in BODY_METHODS and self.get_request_serializer() is not None:
            return True  # a body that does not parse or validate
        return any(is_serializer(p) for p in self.get_override_parameters())

    def _needs_credentials(self) -> bool:
        return not all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _pages(self) -> bool:
        return getattr(self.view, "pagination_class", None) is not None


def _challenges(authenticator: BaseAuthentication) -> bool:
    """True when a failed authentication answers 401 (the scheme sends WWW-Authenticate);
    session authentication answers 403."""
    return type(authenticator).authenticate_header is not BaseAuthentication.authenticate_header
