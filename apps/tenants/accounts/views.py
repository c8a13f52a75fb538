"""Sign-in pages: IdP chooser + local login (password, then TOTP or enrolment), SSO
callbacks, logout. Local sessions exist only after both factors; the session key is rotated
by django.contrib.auth.login."""

from __future__ import annotations

import time

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from apps.tenants.accounts import otp
from apps.tenants.accounts.pages import login_page_context, safe_next
from apps.tenants.permissions import SESSION_TENANT_KEY
from apps.tenants.selectors import membership_list
from apps.tenants.sso import oidc
from apps.tenants.sso.config import SESSION_AUTH_METHOD, SsoConfigError, oidc_providers
from apps.tenants.sso.provisioning import SsoError

PENDING = "fixops_pending_login"  # {"user": pk, "at": epoch, "next": url}
PENDING_SECONDS = 300
LOCAL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _page(request, status: int = 200, **kwargs):
    return render(
        request, "accounts/login.html", login_page_context(request, **kwargs), status=status
    )


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request):
    """GET: the IdP chooser and local form. POST: check the password (first factor)."""
    if request.method == "GET":
        if request.user.is_authenticated:
            return HttpResponseRedirect(safe_next(request, request.GET.get("next")))
        return _page(request)
    if not settings.FIXOPS_LOCAL_LOGIN:
        return _page(request, 403, error="Local sign-in is disabled; use your identity provider.")
    username = request.POST.get("username", "").strip()
    password = request.POST.get("password", "")
    if not username or not password:
        return _page(request, 400, error="Enter your username and password.")
    user = auth.authenticate(request, username=username, password=password)
    if user is None:
        # A lockout is answered by django-axes' middleware with accounts/lockout.html.
        return _page(request, 401, error="Wrong username or password.")
    request.session[PENDING] = {
        "user": user.pk,
        "at": int(time.time()),
        "next": safe_next(request, request.POST.get("next")),
    }
    step = "login-otp" if otp.otp_has_device(user=user) else "login-enrol"
    return redirect(step)


def _pending_user(request):
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING, None)
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return user, pending


def _finish_local_login(request, user, device, next_url: str):
    request.session.pop(PENDING, None)
    auth.login(request, user, backend=LOCAL_BACKEND)
    otp_login(request, device)
    request.session[SESSION_AUTH_METHOD] = "local"
    return HttpResponseRedirect(next_url)


def _expired(request):
    return _page(request, 400, error="Your sign-in took too long; enter your password again.")


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def otp_view(request):
    """Second factor: a TOTP code or a recovery code."""
    user, pending = _pending_user(request)
    if user is None:
        return _expired(request)
    context = {"title": "Two-factor authentication", "error": None}
    if request.method == "POST":
        credentials = {"username": user.get_username()}
        if AxesProxyHandler.is_locked(request, credentials):
            return _lockout(request, credentials)
        device = otp.otp_verify(user=user, token=request.POST.get("otp_token", ""))
        if device is not None:
            return _finish_local_login(request, user, device, pending["next"])
        # Wrong codes count towards the same lockout as wrong passwords.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if AxesProxyHandler.is_locked(request, credentials):
            return _lockout(request, credentials)
        context["error"] = "That code is not valid. Use the current code or a recovery code."
        return render(request, "accounts/otp.html", context, status=401)
    return render(request, "accounts/otp.html", context)


def _lockout(request, credentials):
    request.session.pop(PENDING, None)
    return get_lockout_response(request, credentials)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def enrol_view(request):
    """First local sign-in without a second factor: enrol a TOTP app (QR code), then finish."""
    user, pending = _pending_user(request)
    if user is None:
        return _expired(request)
    if otp.otp_has_device(user=user):
        return redirect("login-otp")  # enrolment is only for accounts without a factor
    device = otp.totp_pending_device(user=user)
    context = {
        "title": "Set up two-factor authentication",
        "qr": otp.totp_qr_data_uri(device=device),
        "secret": otp.totp_secret(device=device),
        "error": None,
    }
    if request.method == "POST":
        codes = otp.totp_confirm(device=device, token=request.POST.get("otp_token", ""))
        if codes is None:
            context["error"] = "That code is not valid; check the time on your phone and retry."
            return render(request, "accounts/enrol.html", context, status=400)
        response = _finish_local_login(request, user, device, pending["next"])
        return render(
            request,
            "accounts/recovery_codes.html",
            {"title": "Recovery codes", "codes": codes, "next": response["Location"]},
        )
    return render(request, "accounts/enrol.html", context)


@never_cache
@csrf_protect
@require_POST
def recovery_codes_view(request):
    """A signed-in, OTP-verified local user replaces their recovery codes (shown once)."""
    if not request.user.is_authenticated or not request.user.is_verified():
        return _page(request, 403, error="Sign in with your second factor first.")
    codes = otp.recovery_codes_regenerate(user=request.user)
    return render(
        request,
        "accounts/recovery_codes.html",
        {"title": "Recovery codes", "codes": codes, "next": settings.LOGIN_REDIRECT_URL},
    )


@never_cache
@require_http_methods(["GET"])
def oidc_login_view(request, slug: str):
    """Start an OIDC sign-in: state, nonce and PKCE challenge, then off to the IdP."""
    try:
        provider = oidc_providers().get(slug)
        if provider is None:
            return _page(request, 404, error=f"No identity provider named {slug!r}.")
        url = oidc.authorization_redirect(
            request, provider, safe_next(request, request.GET.get("next"))
        )
    except (SsoError, SsoConfigError) as exc:
        return _page(request, 502, error=str(getattr(exc, "message", exc)))
    return HttpResponseRedirect(url)


@never_cache
@require_http_methods(["GET"])
def oidc_callback_view(request, slug: str):
    """The IdP redirects back here with a code; validate everything, then sign in."""
    provider = oidc_providers().get(slug)
    if provider is None:
        return _page(request, 404, error=f"No identity provider named {slug!r}.")
    try:
        entry = oidc.pop_state(request, provider)
        user = oidc.OidcBackend().authenticate(
            request,
            oidc_provider=provider,
            nonce=entry.get("nonce"),
            code_verifier=entry.get("code_verifier"),
        )
    except SsoError as exc:
        request.session.save()  # the used state stays used
        return _page(request, 403, error=exc.message)
    id_token = request.session.get("oidc_id_token")
    auth.login(request, user, backend=oidc.BACKEND_PATH)
    request.session[SESSION_AUTH_METHOD] = f"oidc:{provider.slug}"
    request.session["oidc_id_token"] = id_token
    return HttpResponseRedirect(entry.get("next") or settings.LOGIN_REDIRECT_URL)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def logout_view(request):
    """POST signs out (and out of the OIDC provider when it supports RP-initiated logout)."""
    if request.method == "GET":
        return render(request, "accounts/logout.html", {"title": "Sign out"})
    method = request.session.get(SESSION_AUTH_METHOD, "")
    id_token = request.session.get("oidc_id_token")
    auth.logout(request)
    if method.startswith("oidc:"):
        url = oidc.logout_redirect(request, method.split(":", 1)[1], id_token)
        if url:
            return HttpResponseRedirect(url)
    return redirect(reverse("login"))


@ensure_csrf_cookie
def admin_login_redirect(request):
    """The admin's own password-only login is replaced by this flow (password + TOTP or SSO)."""
    query = request.META.get("QUERY_STRING", "")
    return HttpResponseRedirect(reverse("login") + (f"?{query}" if query else ""))


@never_cache
@csrf_protect
@require_POST
def tenant_switch_view(request):
    """The admin's tenant switcher: act in another of one's own tenants (the API's session
    requests follow the same choice, as `POST /api/v1/me/tenant/` does)."""
    if not request.user.is_authenticated:
        return redirect(reverse("login"))
    slug = request.POST.get("tenant", "")
    membership = next(
        (m for m in membership_list(user=request.user) if m.tenant.slug == slug), None
    )
    if membership is None:
        return HttpResponseBadRequest("You are not a member of that tenant.")
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    return HttpResponseRedirect(safe_next(request, request.POST.get("next")))
