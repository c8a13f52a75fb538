"""The configured identity providers, parsed and validated from settings.

Read on each use (never at import), so tests and `override_settings` see changes; a system
check (apps/tenants/checks.py) reports a bad configuration at start-up with its location.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from django.conf import settings

from apps.tenants.models import slug_validator
from apps.tenants.sso.mapping import MappingError, Rule, parse_rules

# The session key saying how a person signed in ("local", "oidc:<slug>", "saml:<slug>").
SESSION_AUTH_METHOD = "fixops_auth_method"


class SsoConfigError(ValueError):
    """A provider entry is malformed; the message says which one and why."""


@dataclass(frozen=True)
class OidcProviderConfig:
    slug: str
    name: str
    issuer: str
    client_id: str
    client_secret: str
    rules: list[Rule]
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    pkce: bool = True
    sign_algs: tuple[str, ...] = ("RS256",)
    leeway: int = 30
    token_auth: str = "client_secret_basic"  # noqa: S105 - an auth method name
    # Endpoints normally come from discovery; these override it (IdPs without discovery).
    endpoints: dict[str, str] = field(default_factory=dict)

    protocol = "oidc"


@dataclass(frozen=True)
class SamlProviderConfig:
    slug: str
    name: str
    entity_id: str
    rules: list[Rule]
    metadata_file: str = ""
    metadata_url: str = ""
    metadata_cert: str = ""
    groups_attribute: str = "groups"
    email_attribute: str = "email"
    name_attribute: str = "displayName"
    allow_idp_initiated: bool = False

    protocol = "saml"


_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "end_session_endpoint",
)


def _str(entry: dict, key: str, where: str, *, required: bool = True, default: str = "") -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or (required and not value):
        raise SsoConfigError(f"{where}.{key} must be a non-empty string")
    return value


def _slug(entry: dict, where: str, seen: set[str]) -> str:
    slug = _str(entry, "slug", where)
    try:
        slug_validator(slug)
    except Exception:  # noqa: BLE001 - Django's ValidationError
        raise SsoConfigError(f"{where}.slug {slug!r} must be a lower-case slug") from None
    if slug in seen:
        raise SsoConfigError(f"{where}.slug {slug!r} is used twice")
    seen.add(slug)
    return slug


def _rules(entry: dict, where: str) -> list[Rule]:
    raw = entry.get("mapping", settings.FIXOPS_SSO_MAPPING)
    try:
        return parse_rules(raw, where=f"{where}.mapping" if "mapping" in entry else "mapping")
    except MappingError as exc:
        raise SsoConfigError(str(exc)) from None


def _entries(setting: str) -> list[dict]:
    raw = getattr(settings, setting)
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise SsoConfigError(f"{setting} must be a JSON list of objects")
    return raw


def oidc_providers() -> dict[str, OidcProviderConfig]:
    """The OIDC providers by slug, in configuration order."""
    providers: dict[str, OidcProviderConfig] = {}
    seen: set[str] = set()
    for index, entry in enumerate(_entries("FIXOPS_OIDC_PROVIDERS")):
        where = f"FIXOPS_OIDC_PROVIDERS[{index}]"
        slug = _slug(entry, where, seen)
        issuer = _str(entry, "issuer", where).rstrip("/")
        if not issuer.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise SsoConfigError(f"{where}.issuer must be an https:// URL")
        endpoints = entry.get("endpoints", {})
        if not isinstance(endpoints, dict) or set(endpoints) - set(_ENDPOINTS):
            raise SsoConfigError(f"{where}.endpoints may only set {', '.join(_ENDPOINTS)}")
        algs = entry.get("sign_algs", ["RS256"])
        if (
            not isinstance(algs, list)
            or not algs
            or any(a.upper().startswith("HS") or a.lower() == "none" for a in algs)
        ):
            raise SsoConfigError(f"{where}.sign_algs must list asymmetric algorithms (RS256…)")
        token_auth = entry.get("token_auth", "client_secret_basic")
        if token_auth not in ("client_secret_basic", "client_secret_post"):
            raise SsoConfigError(
                f"{where}.token_auth must be client_secret_basic or client_secret_post"
            )
        providers[slug] = OidcProviderConfig(
            slug=slug,
            name=entry.get("name") or slug,
            issuer=issuer,
            client_id=_str(entry, "client_id", where),
            client_secret=_str(entry, "client_secret", where),
            rules=_rules(entry, where),
            scopes=entry.get("scopes", "openid email profile"),
            groups_claim=entry.get("groups_claim", "groups"),
            pkce=bool(entry.get("pkce", True)),
            sign_algs=tuple(algs),
            leeway=int(entry.get("leeway", 30)),
            token_auth=token_auth,
            endpoints=dict(endpoints),
        )
        if "openid" not in providers[slug].scopes.split():
            raise SsoConfigError(f"{where}.scopes must include openid")
    return providers


def saml_providers() -> dict[str, SamlProviderConfig]:
    """The SAML identity providers by slug, in configuration order."""
    providers: dict[str, SamlProviderConfig] = {}
    seen: set[str] = set()
    for index, entry in enumerate(_entries("FIXOPS_SAML_PROVIDERS")):
        where = f"FIXOPS_SAML_PROVIDERS[{index}]"
        slug = _slug(entry, where, seen)
        metadata_file = _str(entry, "metadata_file", where, required=False)
        metadata_url = _str(entry, "metadata_url", where, required=False)
        if bool(metadata_file) == bool(metadata_url):
            raise SsoConfigError(f"{where} needs exactly one of metadata_file and metadata_url")
        providers[slug] = SamlProviderConfig(
            slug=slug,
            name=entry.get("name") or slug,
            entity_id=_str(entry, "entity_id", where),
            rules=_rules(entry, where),
            metadata_file=metadata_file,
            metadata_url=metadata_url,
            metadata_cert=_str(entry, "metadata_cert", where, required=False),
            groups_attribute=entry.get("groups_attribute", "groups"),
            email_attribute=entry.get("email_attribute", "email"),
            name_attribute=entry.get("name_attribute", "displayName"),
            allow_idp_initiated=bool(entry.get("allow_idp_initiated", False)),
        )
    return providers


def saml_provider_by_entity_id(entity_id: str) -> SamlProviderConfig | None:
    return next((p for p in saml_providers().values() if p.entity_id == entity_id), None)


def xmlsec_binary() -> str | None:
    """The xmlsec1 program pysaml2 signs and verifies with (FIXOPS_SAML_XMLSEC, a path or a name
    looked up on PATH), or None when it is not there or not executable."""
    configured = settings.FIXOPS_SAML_XMLSEC
    if not configured:
        return None
    if os.sep in configured:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which(configured)
