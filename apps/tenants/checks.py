"""System checks: a broken SSO configuration is reported by `manage.py check` at start-up."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from apps.tenants.sso.config import SsoConfigError, oidc_providers, saml_providers, xmlsec_binary
from apps.tenants.sso.mapping import MappingError, parse_rules


@checks.register(checks.Tags.security)
def sso_configuration(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name, loader in (("OIDC", oidc_providers), ("SAML", saml_providers)):
        try:
            loader()
        except SsoConfigError as exc:
            errors.append(checks.Error(f"{name} single sign-on: {exc}", id="fixops.E101"))
    if settings.FIXOPS_SAML_PROVIDERS and xmlsec_binary() is None:
        errors.append(
            checks.Error(
                f"SAML single sign-on is configured but xmlsec1 is missing: "
                f"FIXOPS_SAML_XMLSEC={settings.FIXOPS_SAML_XMLSEC!r} is not an executable "
                "(or not on PATH). pysaml2 needs it to verify every SAML response.",
                hint=(
                    "Install xmlsec1 (Debian/Ubuntu: apt-get install xmlsec1; RHEL/Fedora: "
                    "dnf install xmlsec1 xmlsec1-openssl; macOS: brew install libxmlsec1) and "
                    "set FIXOPS_SAML_XMLSEC to its path, or remove FIXOPS_SAML_PROVIDERS."
                ),
                id="fixops.E103",
            )
        )
    try:
        parse_rules(settings.FIXOPS_SSO_MAPPING, where="FIXOPS_SSO_MAPPING")
    except MappingError as exc:
        errors.append(checks.Error(str(exc), id="fixops.E102"))
    if not settings.FIXOPS_LOCAL_LOGIN and not (
        settings.FIXOPS_OIDC_PROVIDERS or settings.FIXOPS_SAML_PROVIDERS
    ):
        errors.append(
            checks.Warning(
                "FIXOPS_LOCAL_LOGIN is off and no identity provider is configured: "
                "nobody can sign in to the admin.",
                id="fixops.W101",
            )
        )
    return errors
