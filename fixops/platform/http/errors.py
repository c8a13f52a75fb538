"""The two ways an outbound call fails: worth retrying later, or not."""

from __future__ import annotations

from typing import ClassVar


class OutboundError(Exception):
    """An outbound call failed; `permanent` tells the caller whether to retry.

    `status` is the HTTP status when the remote answered, `retry_after` the seconds it asked
    to wait, `text` its own error text (empty when it said nothing)."""

    permanent: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        text: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.text = text

    def __str__(self) -> str:
        return self.message


class TransientError(OutboundError):
    """5xx, 408, 409, 429, timeouts, dropped connections, an open breaker: retry later."""

    permanent = False


class PermanentError(OutboundError):
    """Other 4xx (message = the remote's error text), bad configuration, SSRF refusal."""

    permanent = True


class Refused(PermanentError):
    """The SSRF guard refused the destination (nothing was sent)."""


class BreakerOpen(TransientError):
    """The destination failed repeatedly; its circuit breaker holds calls back for a while."""
