"""Domain errors with stable codes. Kept apart from the handler (errors.py) so services can
import them without pulling in DRF's views."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status


class ApiError(exceptions.APIException):
    """A domain error with a stable code; raise it from services and views alike."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"
    default_detail = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(detail=message or self.default_detail, code=code or self.default_code)
        self.error_code = code or self.default_code
        self.details = details
        if status_code is not None:
            self.status_code = status_code
