"""The SAML endpoints (djangosaml2's login, metadata and ACS views), the SP configuration
loader and the ACS's failure page: everything that needs pysaml2's response, signature and
configuration modules, which take about a second to import. apps/tenants/sso/urls.py loads
this module on the first SAML request; the backend is in saml.py.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from djangosaml2.views import AssertionConsumerServiceView, LoginView, MetadataView
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
from saml2.sigver import SignatureError
from saml2.validate import ResponseLifetimeExceed, ToEarly

from apps.tenants.accounts.pages import login_page_context
from apps.tenants.sso.config import (
    SESSION_AUTH_METHOD,
    saml_provider_by_entity_id,
    saml_providers,
    xmlsec_binary,
)
from apps.tenants.sso.provisioning import SsoError
from apps.tenants.sso.saml import sp_config_dict
from fixops.platform.http.session import build_session

logger = logging.getLogger(__name__)

_config_cache: dict[str, tuple[float, dict]] = {}
# Remote metadata is fetched once per interval per process, not on every request.
_CONFIG_TTL = 300.0
METADATA_TIMEOUT = (10.0, 30.0)


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
