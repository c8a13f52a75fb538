"""SAML 2.0 sign-in on top of djangosaml2 (pysaml2 + xmlsec1): the authentication backend
and the SP configuration. The endpoints, the metadata loader and the ACS's failure page are in
saml_views.py.

pysaml2 checks the XML signature, Audience, Recipient, InResponseTo and the
NotBefore/NotOnOrAfter windows; this module requires signed assertions, builds the SP
configuration from the configured providers, refuses a replayed assertion id (remembered in
the database until it expires), and provisions users through the shared mapping.

Importing pysaml2's response, signature and configuration modules takes about a second (they
load XML schemas). The backend is loaded by any permission check (Django asks every
authentication backend), so this module imports only what the backend needs, and the
endpoints load the rest on the first SAML request (apps/tenants/sso/urls.py). The backend's
path is kept in the sessions of people signed in with SAML: it stays here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from djangosaml2.backends import Saml2Backend
from saml2 import BINDING_HTTP_POST
from saml2.saml import NAMEID_FORMAT_PERSISTENT

from apps.tenants.models import SamlAssertionSeen
from apps.tenants.sso.config import saml_provider_by_entity_id, saml_providers, xmlsec_binary
from apps.tenants.sso.mapping import groups_from
from apps.tenants.sso.provisioning import SsoError, SsoProfile, sso_sign_in

BACKEND_PATH = "apps.tenants.sso.saml.SamlBackend"


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


def saml_login_providers() -> list[tuple[str, str, str]]:
    """(slug, name, entity id) of the configured SAML providers."""
    return [(p.slug, p.name, p.entity_id) for p in saml_providers().values()]
