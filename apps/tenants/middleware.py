"""Session lifetime (idle and absolute timeouts) and the Permissions-Policy header."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import auth

SESSION_AUTH_AT = "fixops_auth_at"
SESSION_SEEN_AT = "fixops_seen_at"
SESSION_LOGOUT_REASON = "fixops_logout_reason"
# Writing the session on every request would make each page view a database write; the idle
# clock only needs minute precision.
_SEEN_GRANULARITY = 60


class SessionTimeoutMiddleware:
    """Signs a session out after FIXOPS_SESSION_IDLE_SECONDS without a request, or
    FIXOPS_SESSION_ABSOLUTE_SECONDS after sign-in, whichever comes first."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            self._enforce(request)
        return self.get_response(request)

    def _enforce(self, request) -> None:
        session = request.session
        now = int(time.time())
        auth_at = session.get(SESSION_AUTH_AT)
        seen_at = session.get(SESSION_SEEN_AT, auth_at)
        if auth_at is None:
            session[SESSION_AUTH_AT] = session[SESSION_SEEN_AT] = now
            return
        reason = None
        if now - auth_at > settings.FIXOPS_SESSION_ABSOLUTE_SECONDS:
            reason = "Your session reached its maximum length; please sign in again."
        elif now - seen_at > settings.FIXOPS_SESSION_IDLE_SECONDS:
            reason = "Your session expired after a period of inactivity; please sign in again."
        if reason:
            auth.logout(request)
            # The login page shows it (the messages framework is not set up this early).
            request.session[SESSION_LOGOUT_REASON] = reason
            return
        if now - seen_at >= _SEEN_GRANULARITY:
            session[SESSION_SEEN_AT] = now


class PermissionsPolicyMiddleware:
    """Adds Permissions-Policy (browser features FixOps never uses are switched off)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.FIXOPS_PERMISSIONS_POLICY:
            response.headers.setdefault("Permissions-Policy", settings.FIXOPS_PERMISSIONS_POLICY)
        return response
