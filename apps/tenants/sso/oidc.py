"""OpenID Connect sign-in on top of mozilla-django-oidc, for several providers at once.

The library brings the code flow, state/nonce bookkeeping and PKCE helpers; this module adds
what it leaves out: discovery, a JWKS cache that refreshes when the IdP rotates its keys, full
ID-token validation (signature, algorithm allow-list, `iss`, `aud`/`azp`, `exp`, `iat`, nonce),
per-provider settings, users keyed by (issuer, sub), and RP-initiated logout.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse
from django.utils.crypto import get_random_string
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import (
    add_state_and_verifier_and_nonce_to_session,
    generate_code_challenge,
)

from apps.tenants.sso.config import OidcProviderConfig, oidc_providers
from apps.tenants.sso.mapping import groups_from
from apps.tenants.sso.provisioning import SsoError, SsoProfile, SsoResult, sso_sign_in
from fixops.platform import jsondepth
from fixops.platform.http.errors import OutboundError
from fixops.platform.http.session import GuardedSession, build_session

logger = logging.getLogger(__name__)

BACKEND_PATH = "apps.tenants.sso.oidc.OidcBackend"


def _session() -> GuardedSession:
    """The platform's outbound client for calls to the identity provider.

    The provider's URLs come from the operator's settings, not from a tenant, and an on-premises
    IdP on a private address is the usual set-up: no SSRF guard, and redirects are followed as
    IdPs expect. Statuses are read here, so the IdP's own error text reaches the message.
    mozilla-django-oidc's own requests calls (token, userinfo, JWKS) are all overridden to come
    here: no environment proxy, FIXOPS_OUTBOUND_PROXY only."""
    timeout = (settings.OIDC_TIMEOUT, settings.OIDC_TIMEOUT)
    return build_session(
        label="identity provider",
        timeout=timeout,
        ssrf_guard=False,
        follow_redirects=True,
        map_status=False,
    )


def _reason(exc: Exception) -> str:
    """The name of what went wrong underneath the client's error (ConnectTimeout, …)."""
    return type(exc.__cause__ if isinstance(exc, OutboundError) and exc.__cause__ else exc).__name__


def _get_json(url: str) -> dict:
    try:
        with _session() as session:
            response = session.get(url)
        response.raise_for_status()
        body = jsondepth.loads(response.content)
    except (OutboundError, requests.HTTPError, ValueError) as exc:
        raise SsoError(
            f"The identity provider could not be reached ({_reason(exc)}).",
            code="sso_idp_unreachable",
        ) from None
    if not isinstance(body, dict):
        raise SsoError("The identity provider sent a malformed document.", code="sso_idp_error")
    return body


def provider_metadata(provider: OidcProviderConfig) -> dict:
    """Discovery document (cached), with the provider's configured endpoint overrides."""
    key = f"fixops:oidc:discovery:{provider.slug}:{provider.issuer}"
    metadata = cache.get(key)
    if metadata is None:
        needed = {"authorization_endpoint", "token_endpoint", "jwks_uri"}
        if needed <= set(provider.endpoints):
            metadata = {"issuer": provider.issuer}
        else:
            metadata = _get_json(f"{provider.issuer}/.well-known/openid-configuration")
            if metadata.get("issuer", "").rstrip("/") != provider.issuer:
                raise SsoError(
                    "The identity provider's discovery document names another issuer.",
                    code="sso_idp_error",
                )
        cache.set(key, metadata, settings.FIXOPS_OIDC_DISCOVERY_TTL)
    return {**metadata, **provider.endpoints}


def _jwks(provider: OidcProviderConfig, *, refresh: bool) -> list[dict]:
    key = f"fixops:oidc:jwks:{provider.slug}:{provider.issuer}"
    cached = cache.get(key)
    now = time.time()
    stale = refresh and (
        cached is None or now - cached["at"] >= settings.FIXOPS_OIDC_JWKS_MIN_REFRESH_SECONDS
    )
    if cached is None or stale:
        body = _get_json(provider_metadata(provider)["jwks_uri"])
        keys = body.get("keys")
        if not isinstance(keys, list):
            raise SsoError("The identity provider's JWKS has no keys.", code="sso_idp_error")
        cached = {"at": now, "keys": keys}
        cache.set(key, cached, settings.FIXOPS_OIDC_JWKS_TTL)
    return cached["keys"]


def _signing_key(provider: OidcProviderConfig, header: dict):
    """The IdP key the token names; an unknown kid re-reads the JWKS once (key rotation)."""
    for refresh in (False, True):
        for jwk in _jwks(provider, refresh=refresh):
            if header.get("kid") is not None and jwk.get("kid") != header.get("kid"):
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", header["alg"]) != header["alg"]:
                continue
            try:
                return jwt.PyJWK(jwk, algorithm=header["alg"]).key
            except jwt.PyJWTError:
                continue
    raise SsoError(
        "The ID token is signed with a key the identity provider does not publish.",
        code="sso_bad_token",
    )


def validate_id_token(
    provider: OidcProviderConfig, token: str, *, nonce: str | None
) -> dict[str, Any]:
    """The ID token's claims after every check OIDC Core 3.1.3.7 asks for; SsoError if not."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SsoError("The ID token is malformed.", code="sso_bad_token") from None
    if header.get("alg") not in provider.sign_algs:
        raise SsoError(
            f"The ID token's algorithm {header.get('alg')!r} is not accepted.",
            code="sso_bad_token",
        )
    key = _signing_key(provider, header)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=list(provider.sign_algs),
            audience=provider.client_id,
            issuer=provider_metadata(provider).get("issuer", provider.issuer),
            leeway=provider.leeway,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise SsoError("The ID token has expired.", code="sso_token_expired") from None
    except jwt.InvalidAudienceError:
        raise SsoError(
            "The ID token was issued to another client.", code="sso_bad_audience"
        ) from None
    except jwt.InvalidIssuerError:
        raise SsoError("The ID token comes from another issuer.", code="sso_bad_issuer") from None
    except jwt.InvalidSignatureError:
        raise SsoError("The ID token's signature is not valid.", code="sso_bad_signature") from None
    except jwt.PyJWTError as exc:
        raise SsoError(f"The ID token is not valid: {exc}.", code="sso_bad_token") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise SsoError("The ID token was issued to another client.", code="sso_bad_audience")
    if nonce is None or claims.get("nonce") != nonce:
        raise SsoError("The ID token's nonce does not match this sign-in.", code="sso_bad_nonce")
    return claims


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, configured per provider rather than from global settings.

    Called directly by the callback view with `oidc_provider`; `django.contrib.auth`
    authenticate() calls without it (passwords, SAML) get None.
    """

    def __init__(self, *args, **kwargs) -> None:
        # The parent reads one provider from global settings; providers are per request here.
        self.UserModel = get_user_model()

    def authenticate(self, request, oidc_provider: OidcProviderConfig | None = None, **kwargs):
        if request is None or oidc_provider is None:
            return None
        self.request = request
        self.provider = oidc_provider
        metadata = provider_metadata(oidc_provider)
        self.OIDC_OP_TOKEN_ENDPOINT = metadata["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = metadata.get("userinfo_endpoint")
        self.OIDC_RP_CLIENT_ID = oidc_provider.client_id
        self.OIDC_RP_CLIENT_SECRET = oidc_provider.client_secret
        code = request.GET.get("code")
        if not code:
            raise SsoError("The identity provider sent no authorization code.")
        payload = {
            "client_id": oidc_provider.client_id,
            "client_secret": oidc_provider.client_secret,
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": callback_url(request, oidc_provider),
        }
        if kwargs.get("code_verifier"):
            payload["code_verifier"] = kwargs["code_verifier"]
        tokens = self.get_token(payload)
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str):
            raise SsoError("The identity provider returned no ID token.", code="sso_bad_token")
        claims = self.verify_token(id_token, nonce=kwargs.get("nonce"))
        self.result = self.get_or_create_user(access_token, id_token, claims)
        request.session["oidc_id_token"] = id_token
        return self.result.user

    def get_token(self, payload: dict) -> dict:
        auth = None
        if self.provider.token_auth == "client_secret_basic":  # noqa: S105 - a method name
            auth = (payload["client_id"], payload.pop("client_secret"))
        try:
            with _session() as session:
                response = session.post(self.OIDC_OP_TOKEN_ENDPOINT, data=payload, auth=auth)
        except OutboundError as exc:
            raise SsoError(
                f"The identity provider could not be reached ({_reason(exc)}).",
                code="sso_idp_unreachable",
            ) from None
        if response.status_code != 200:
            detail = _error_description(response)
            raise SsoError(
                f"The identity provider refused the authorization code: {detail}",
                code="sso_token_refused",
            )
        try:
            return jsondepth.loads(response.content)
        except ValueError:
            raise SsoError("The token response is not JSON.", code="sso_idp_error") from None

    def verify_token(self, token: str, **kwargs) -> dict:
        return validate_id_token(self.provider, token, nonce=kwargs.get("nonce"))

    def retrieve_matching_jwk(self, token: str) -> dict:
        # The parent fetches the JWKS with requests.get, outside the platform session; every
        # method of the parent that calls out is overridden (tests/fixops/http/test_outbound.py).
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SsoError("The ID token is malformed.", code="sso_bad_token") from None
        for refresh in (False, True):
            for jwk in _jwks(self.provider, refresh=refresh):
                if jwk.get("kid") == header.get("kid") and jwk.get("alg", header.get("alg")) == (
                    header.get("alg")
                ):
                    return jwk
        raise SsoError(
            "The ID token is signed with a key the identity provider does not publish.",
            code="sso_bad_token",
        )

    def get_userinfo(self, access_token, id_token, payload) -> dict:
        if not self.OIDC_OP_USER_ENDPOINT or not access_token:
            return {}
        try:
            with _session() as session:
                response = session.get(
                    self.OIDC_OP_USER_ENDPOINT,
                    headers={"Authorization": f"Bearer {access_token}"},
                )
            response.raise_for_status()
            info = jsondepth.loads(response.content)
        except (OutboundError, requests.HTTPError, ValueError):
            raise SsoError(
                "The identity provider's userinfo failed.", code="sso_idp_error"
            ) from None
        # OIDC Core 5.3.2: a userinfo response for another subject must not be used.
        if not isinstance(info, dict) or info.get("sub") != payload["sub"]:
            raise SsoError("The userinfo response is for another subject.", code="sso_bad_token")
        return info

    def get_or_create_user(self, access_token, id_token, payload) -> SsoResult:
        claims = {**self.get_userinfo(access_token, id_token, payload), **payload}
        provider = self.provider
        profile = SsoProfile(
            issuer=payload["iss"],
            subject=str(payload["sub"]),
            email=str(claims.get("email") or ""),
            name=str(claims.get("name") or ""),
            username_hint=str(claims.get("preferred_username") or ""),
            groups=tuple(groups_from(claims.get(provider.groups_claim))),
            claims=claims,
        )
        return sso_sign_in(provider=provider, profile=profile)


def _error_description(response) -> str:
    try:
        body = jsondepth.loads(response.content)
        return str(body.get("error_description") or body.get("error") or response.status_code)
    except (ValueError, AttributeError):
        return f"HTTP {response.status_code}"


def callback_url(request, provider: OidcProviderConfig) -> str:
    return request.build_absolute_uri(reverse("oidc-callback", args=[provider.slug]))


def authorization_redirect(request, provider: OidcProviderConfig, next_url: str | None) -> str:
    """The IdP URL to send the browser to; remembers state, nonce and PKCE verifier."""
    metadata = provider_metadata(provider)
    state = get_random_string(32)
    params = {
        "response_type": "code",
        "scope": provider.scopes,
        "client_id": provider.client_id,
        "redirect_uri": callback_url(request, provider),
        "state": state,
        "nonce": get_random_string(32),
    }
    verifier = None
    if provider.pkce:
        verifier = get_random_string(64)
        params["code_challenge"] = generate_code_challenge(verifier, "S256")
        params["code_challenge_method"] = "S256"
    add_state_and_verifier_and_nonce_to_session(request, state, params, verifier)
    # Remember which provider this state belongs to: a code from one IdP is never
    # redeemed at another.
    request.session["oidc_states"][state]["provider"] = provider.slug
    request.session["oidc_states"][state]["next"] = next_url
    request.session.modified = True
    return f"{metadata['authorization_endpoint']}?{urlencode(params)}"


def pop_state(request, provider: OidcProviderConfig) -> dict:
    """The stored state of this callback (removed: a state is good for one use)."""
    error = request.GET.get("error")
    state = request.GET.get("state", "")
    states = request.session.get("oidc_states") or {}
    entry = states.pop(state, None) if state else None
    request.session.modified = True
    if error:
        description = request.GET.get("error_description", "")[:200]
        raise SsoError(f"The identity provider answered {error}: {description}".strip(": "))
    if entry is None or entry.get("provider") != provider.slug:
        raise SsoError(
            "This sign-in response does not belong to a sign-in started in this browser "
            "(unknown or reused state). Start again.",
            code="sso_bad_state",
        )
    return entry


def logout_redirect(request, provider_slug: str, id_token: str | None) -> str | None:
    """The IdP's end-session URL for RP-initiated logout, when the provider offers one."""
    provider = oidc_providers().get(provider_slug)
    if provider is None:
        return None
    try:
        endpoint = provider_metadata(provider).get("end_session_endpoint")
    except SsoError:
        return None
    if not endpoint:
        return None
    params = {
        "client_id": provider.client_id,
        "post_logout_redirect_uri": request.build_absolute_uri(reverse("login")),
    }
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"
