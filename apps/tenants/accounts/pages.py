"""What the sign-in page shows: the configured IdPs and, unless disabled, local login."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from apps.tenants.middleware import SESSION_LOGOUT_REASON
from apps.tenants.sso.config import SsoConfigError, oidc_providers, saml_providers


def safe_next(request, value: str | None) -> str:
    """`value` if it is a local URL, else the default landing page."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return settings.LOGIN_REDIRECT_URL


def login_page_context(request, *, error: str | None = None, form=None) -> dict:
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    query = urlencode({"next": next_url})
    idps = []
    try:
        for provider in oidc_providers().values():
            url = reverse("oidc-login", args=[provider.slug])
            idps.append({"name": provider.name, "url": f"{url}?{query}", "kind": "OpenID Connect"})
        for provider in saml_providers().values():
            url = reverse("saml2_login")
            params = urlencode({"idp": provider.entity_id, "next": next_url})
            idps.append({"name": provider.name, "url": f"{url}?{params}", "kind": "SAML"})
    except SsoConfigError as exc:
        error = error or f"Single sign-on is misconfigured: {exc}"
    notice = (
        request.session.pop(SESSION_LOGOUT_REASON, None) if hasattr(request, "session") else None
    )
    return {
        "idps": idps,
        "local_login": settings.FIXOPS_LOCAL_LOGIN,
        "error": error,
        "notice": notice,
        "form": form,
        "next": next_url,
        "title": "Sign in",
    }
