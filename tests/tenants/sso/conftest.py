"""Real identity providers on 127.0.0.1 for the SSO tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from tests.fakes.idp.browser import Browser
from tests.fakes.idp.oidc_provider import OidcProvider

CALLBACK = "http://testserver/accounts/oidc/{slug}/callback/"
SLUGS = ("corp", "corp-nopkce", "corp-short", "corp-wrongaud")

ACCOUNTS = {
    "alice-sub-1": {
        "password": "alice-idp-password",
        "claims": {
            "email": "alice@corp.example",
            "email_verified": True,
            "name": "Alice Corp",
            "preferred_username": "alice.corp",
            "groups": ["acme-admins", "globex-viewers"],
        },
    },
    "dave-sub-2": {
        "password": "dave-idp-password",
        "claims": {
            # Same e-mail as alice: identity is (issuer, sub), so this is another person.
            "email": "alice@corp.example",
            "preferred_username": "dave",
            "groups": ["acme-analysts"],
        },
    },
    "erin-sub-3": {
        "password": "erin-idp-password",
        "claims": {"email": "erin@corp.example", "groups": ["marketing"]},
    },
}
MAPPING = [
    {"group": "acme-admins", "tenant": "acme", "role": "admin"},
    {"group": "acme-analysts", "tenant": "acme", "role": "analyst"},
    {"group": "globex-viewers", "tenant": "globex", "role": "viewer"},
]


def _client(client_id: str, slug: str) -> dict:
    return {
        "client_id": client_id,
        "client_secret": f"{client_id}-secret-0123456789",
        "redirect_uris": [CALLBACK.format(slug=slug)],
        "post_logout_redirect_uris": ["http://testserver/accounts/login/"],
    }


def make_provider() -> OidcProvider:
    return OidcProvider(
        clients=[
            _client("fixops", "corp"),
            _client("fixops-nopkce", "corp-nopkce"),
            _client("fixops-short", "corp-short"),
            _client("other-app", "corp-wrongaud"),
        ],
        accounts=ACCOUNTS,
        id_token_ttl={"fixops-short": 1},
        pkce_optional=["fixops-nopkce"],
    )


@pytest.fixture(scope="module")
def oidc_idp():
    provider = make_provider().start()
    yield provider
    provider.stop()


def provider_entry(idp: OidcProvider, slug: str = "corp", client_id: str = "fixops", **extra):
    return {
        "slug": slug,
        "name": f"Corp SSO ({slug})",
        "issuer": idp.issuer,
        "client_id": client_id,
        "client_secret": f"{client_id}-secret-0123456789",
        "scopes": "openid email profile groups",
        **extra,
    }


@pytest.fixture
def oidc_settings(settings, oidc_idp):
    cache.clear()
    settings.FIXOPS_SSO_MAPPING = MAPPING
    settings.FIXOPS_OIDC_JWKS_MIN_REFRESH_SECONDS = 0
    settings.FIXOPS_OIDC_PROVIDERS = [
        provider_entry(oidc_idp),
        provider_entry(oidc_idp, "corp-nopkce", "fixops-nopkce", pkce=False),
        provider_entry(oidc_idp, "corp-short", "fixops-short", leeway=0),
    ]
    yield settings
    cache.clear()


@pytest.fixture
def browser(db):
    return Browser(Client())
