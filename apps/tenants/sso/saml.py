"""SAML 2.0 sign-in on top of djangosaml2 (pysaml2 + xmlsec1).

pysaml2 checks the XML signature, Audience, Recipient, InResponseTo and the
NotBefore/NotOnOrAfter windows; this module requires signed assertions, builds the SP
configuration from the configured providers, refuses a replayed assertion id (remembered in
the database until it expires), and provisions users through the shared mapping.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from djangosaml2.backends import Saml2Backend
from djangosaml2.views import AssertionConsumerServiceView, LoginView, MetadataView
from saml2 import BINDING_HTTP_POST
from saml2.config import SPConfig
from saml2.httpbase import HTTPBase
from saml2.mdstore import MetadataStore
from saml2.response import (
    IncorrectlySigned,
    StatusAuthnFailed,
    StatusInvalidAuthnResponseStatement,
    StatusRequestDenied,
    UnsolicitedResponse,
    VerificationError,
)
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from apps.tenants.accounts.pages import login_page_context
from apps.tenants.models import SamlAssertionSeen
from apps.tenants.sso.config import saml_provider_by_entity_id, saml_providers, xmlsec_binary
from apps.tenants.sso.mapping import groups_from
from apps.tenants.sso.provisioning import SsoError, SsoProfile, sso_sign_in
from fixops.platform.http.session import build_session

logger = logging.getLogger(__name__)

BACKEND_PATH = "apps.tenants.sso.saml.SamlBackend"
SESSION_AUTH_METHOD = "fixops_auth_method"

_config_cache: dict[str, tuple[float, dict]] = {}
# Remote metadata is fetched once per interval per process, not on every request.
_CONFIG_TTL = 300.0
METADATA_TIMEOUT = (10.0, 30.0)


def public_url() -> str:
    return settings.FIXOPS_PUBLIC_URL.rstrip("/") or "http://127.0.0.1:8000"


def sp_entity_id() -> str:
    return f"{public_url()}/saml2/metadata/"


def sp_config_dict() -> dict:
    """The pysaml2 SP configuration for the configured providers."""
    base = public_url()
    providers = saml_providers().values()
    local = [p.metadata_file for p in providers if p.metadata_file]
    remote = [
        {"url": p.metadata_url, **({"cert": p.metadata_cert} if p.metadata_cert else {})}
        for p in providers
        if p.metadata_url
    ]
    signed_requests = bool(settings.FIXOPS_SAML_SP_KEY_FILE and settings.FIXOPS_SAML_SP_CERT_FILE)
    config = {
        "xmlsec_binary": xmlsec_binary() or settings.FIXOPS_SAML_XMLSEC,
        "entityid": sp_entity_id(),
        "allow_unknown_attributes": True,
        "accepted_time_diff": settings.FIXOPS_SAML_CLOCK_SKEW,
        "service": {
            "sp": {
                "name": "FixOps",
                "name_id_format": NAMEID_FORMAT_PERSISTENT,
                "endpoints": {
                    "assertion_consumer_service": [(f"{base}/saml2/acs/", BINDING_HTTP_POST)],
                },
                "authn_requests_signed": signed_requests,
                # Signed assertions, always: an unsigned one is refused even inside a signed
                # response, so no assertion can be spliced in.
                "want_assertions_signed": True,
                "want_response_signed": False,
                # IdP-initiated sign-in only for providers that allow it (checked per provider
                # in the ACS view); the assertion-id cache guards replays either way.
                "allow_unsolicited": any(p.allow_idp_initiated for p in providers),
                "only_use_keys_in_metadata": True,
            }
        },
        "metadata": {
            **({"local": local} if local else {}),
            **({"remote": remote} if remote else {}),
        },
        "debug": False,
    }
    if signed_requests:
        config["key_file"] = settings.FIXOPS_SAML_SP_KEY_FILE
        config["cert_file"] = settings.FIXOPS_SAML_SP_CERT_FILE
        config["encryption_keypairs"] = [
            {
                "key_file": settings.FIXOPS_SAML_SP_KEY_FILE,
                "cert_file": settings.FIXOPS_SAML_SP_CERT_FILE,
            }
        ]
    return config


class _MetadataHttp(HTTPBase):
    """pysaml2's client for remote IdP metadata, through the platform session (its own calls
    requests.request, which honours HTTP_PROXY/HTTPS_PROXY from the environment)."""

    def send(self, url, method="GET", **kwargs):
        # The metadata URL is the operator's setting (an IdP on a private address is usual): no
        # SSRF guard, redirects followed; pysaml2 reads the status itself.
        with build_session(
            label="SAML metadata",
            timeout=METADATA_TIMEOUT,
            ssrf_guard=False,
            follow_redirects=True,
            map_status=False,
        ) as session:
            return session.request(method, url, headers={"Accept": "application/samlmetadata+xml"})


class GuardedSPConfig(SPConfig):
    """SPConfig whose metadata store fetches remote metadata through _MetadataHttp."""

    def load_metadata(self, metadata_conf):
        store = MetadataStore(
            self.attribute_converters,
            self,
            getattr(self, "ca_certs", None),
            http_client_timeout=self.http_client_timeout,
        )
        store.http = _MetadataHttp()
        store.imp(metadata_conf)
        return store


def sp_config(request=None) -> SPConfig:
    """djangosaml2's SAML_CONFIG_LOADER: the SP config, cached per process for a while."""
    raw = sp_config_dict()
    key = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    cached = _config_cache.get(key)
    if cached is None or time.monotonic() - cached[0] > _CONFIG_TTL:
        conf = GuardedSPConfig()
        conf.load(copy.deepcopy(raw))
        _config_cache.clear()
        _config_cache[key] = (time.monotonic(), conf)
        cached = _config_cache[key]
    return cached[1]


def _remember_assertion(issuer: str, assertion_info: dict) -> None:
    assertion_id = (assertion_info or {}).get("assertion_id")
    if not assertion_id:
        raise SsoError("The SAML assertion has no id or bearer confirmation.", code="saml_invalid")
    expires = _parse_instant((assertion_info or {}).get("not_on_or_after"))
    SamlAssertionSeen.objects.filter(expires_at__lt=timezone.now()).delete()
    try:
        with transaction.atomic():
            SamlAssertionSeen.objects.create(
                issuer=issuer, assertion_id=assertion_id, expires_at=expires
            )
    except IntegrityError:
        raise SsoError(
            "This SAML assertion was already used (replay refused).", code="saml_replayed"
        ) from None


def _parse_instant(value) -> datetime:
    fallback = timezone.now() + timedelta(hours=1)
    if not value:
        return fallback
    try:
        parsed = datetime.strptime(str(value)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return fallback
    # Remember at least as long as the assertion could still be accepted (clock skew).
    return parsed + timedelta(seconds=settings.FIXOPS_SAML_CLOCK_SKEW)


def _first(values) -> str:
    values = groups_from(values)
    return values[0] if values else ""


class SamlBackend(Saml2Backend):
    """djangosaml2's backend: users by (IdP entity id, NameID), roles from the mapping."""

    def authenticate(
        self,
        request,
        session_info=None,
        attribute_mapping=None,
        create_unknown_user=True,
        assertion_info=None,
        **kwargs,
    ):
        if request is None or session_info is None:
            return None
        try:
            return self._sign_in(request, session_info, assertion_info)
        except SsoError as exc:
            request.fixops_sso_error = exc
            # PermissionDenied stops Django's authenticate() from trying other backends.
            raise PermissionDenied(exc.message) from None

    def _sign_in(self, request, session_info: dict, assertion_info: dict | None):
        issuer = session_info.get("issuer", "")
        provider = saml_provider_by_entity_id(issuer)
        if provider is None:
            raise SsoError(
                "This SAML identity provider is not configured.", code="saml_unknown_idp"
            )
        _remember_assertion(issuer, assertion_info or {})
        name_id = session_info.get("name_id")
        attributes = session_info.get("ava") or {}
        profile = SsoProfile(
            issuer=issuer,
            subject=getattr(name_id, "text", "") or "",
            email=_first(attributes.get(provider.email_attribute)),
            name=_first(attributes.get(provider.name_attribute)),
            username_hint=_first(attributes.get("uid")),
            groups=tuple(groups_from(attributes.get(provider.groups_attribute))),
            claims={k: groups_from(v) for k, v in attributes.items()},
        )
        result = sso_sign_in(provider=provider, profile=profile)
        request.fixops_saml_provider = provider.slug
        return result.user


class SamlConfiguredMixin:
    """Every SAML endpoint answers 404 while no SAML provider is configured (djangosaml2 would
    publish metadata for nothing, or 500), and 503 while xmlsec1 is missing (the system check
    fixops.E103 says so at start-up too)."""

    def dispatch(self, request, *args, **kwargs):
        if not saml_providers():
            return self.not_configured(request)
        if xmlsec_binary() is None:
            logger.error(
                "saml: xmlsec1 not found (FIXOPS_SAML_XMLSEC=%s)", settings.FIXOPS_SAML_XMLSEC
            )
            return render(
                request,
                "accounts/login.html",
                login_page_context(
                    request, error="SAML sign-in is unavailable: xmlsec1 is missing on the server."
                ),
                status=503,
            )
        return super().dispatch(request, *args, **kwargs)

    def not_configured(self, request):
        raise Http404("SAML sign-in is not configured here.")


class SamlLoginView(SamlConfiguredMixin, LoginView):
    """djangosaml2's login; a clear sign-in page with 404 when SAML is not configured."""

    def not_configured(self, request):
        return render(
            request,
            "accounts/login.html",
            login_page_context(request, error="SAML sign-in is not configured here."),
            status=404,
        )


class SamlMetadataView(SamlConfiguredMixin, MetadataView):
    """djangosaml2's SP metadata, published only when a SAML provider is configured."""


class SamlAcsView(SamlConfiguredMixin, AssertionConsumerServiceView):
    """The ACS: djangosaml2's, plus per-provider IdP-initiated policy and a session marker."""

    def custom_validation(self, response) -> None:
        provider = saml_provider_by_entity_id(response.issuer())
        try:
            response.session_info()
        except StatusInvalidAuthnResponseStatement:
            # pysaml2 drops a bearer confirmation for another recipient and then has no
            # valid subject; djangosaml2 would answer that with a 500.
            self._refuse(
                "The SAML assertion is not addressed to FixOps (recipient).", "saml_recipient"
            )
        solicited = response.in_response_to in (response.outstanding_queries or {})
        if provider is not None and not solicited and not provider.allow_idp_initiated:
            self._refuse(
                "This SAML response does not answer a sign-in started here (IdP-initiated "
                "sign-in is off for this provider, or the response was already used).",
                "saml_unsolicited",
            )

    def _refuse(self, message: str, code: str) -> None:
        error = SsoError(message, code=code)
        self.request.fixops_sso_error = error
        raise error

    def post_login_hook(self, request, user, session_info) -> None:
        request.session[SESSION_AUTH_METHOD] = (
            f"saml:{getattr(request, 'fixops_saml_provider', '')}"
        )


_MESSAGES = (
    (
        (SignatureError, IncorrectlySigned),
        "The SAML response is not signed correctly (missing or invalid signature).",
    ),
    ((ResponseLifetimeExceed,), "The SAML assertion has expired."),
    ((ToEarly,), "The SAML assertion is not valid yet."),
    (
        (UnsolicitedResponse,),
        "This SAML response does not answer a sign-in started here (or was already used).",
    ),
    ((StatusAuthnFailed, StatusRequestDenied), "The identity provider did not authenticate you."),
    (
        (VerificationError,),
        "The SAML assertion is not addressed to FixOps (recipient or audience).",
    ),
)


def acs_failure(request, exception=None, status=403, **kwargs):
    """SAML_ACS_FAILURE_RESPONSE_FUNCTION: the login page with what went wrong."""
    sso_error = getattr(request, "fixops_sso_error", None)
    if sso_error is not None:
        message = sso_error.message
    elif "AudienceRestrictions" in str(exception):
        # pysaml2 raises a bare Exception for a foreign audience.
        message = "The SAML assertion is not addressed to FixOps (audience)."
    else:
        message = next(
            (text for kinds, text in _MESSAGES if isinstance(exception, kinds)),
            "The SAML response was refused (malformed or not for FixOps).",
        )
    logger.warning("saml: sign-in refused: %s (%r)", message, exception)
    return render(
        request,
        "accounts/login.html",
        login_page_context(request, error=message),
        status=status if status in (400, 403) else 403,
    )


def saml_login_providers() -> list[tuple[str, str, str]]:
    """(slug, name, entity id) of the configured SAML providers."""
    return [(p.slug, p.name, p.entity_id) for p in saml_providers().values()]
