"""OIDC sign-in against a real OpenID provider (panva/oidc-provider under node) on loopback:
the whole browser redirect flow, just-in-time provisioning, the group mapping, and attacks."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.test import Client
from mozilla_django_oidc.utils import generate_code_challenge

from apps.tenants.models import Membership, SsoIdentity
from tests.fakes.idp.browser import Browser
from tests.fakes.idp.oidc_provider import new_signing_key
from tests.fakes.idp.token_proxy import TokenProxy
from tests.tenants.sso.conftest import make_provider, provider_entry

pytestmark = pytest.mark.django_db


def start(browser, slug="corp"):
    """Open the login page, pick the IdP; returns the IdP's login form page."""
    login = browser.get("/accounts/login/?next=/admin/")
    assert f"/accounts/oidc/{slug}/login/" in login.text
    return browser.get(f"/accounts/oidc/{slug}/login/?next=/admin/")


def sign_in(browser, slug="corp", account="alice-sub-1", password="alice-idp-password"):
    page = start(browser, slug)
    assert page.status == 200 and 'name="password"' in page.text, page.text
    return browser.submit(page, login=account, password=password)


def authorize_url(browser, slug="corp") -> str:
    response = browser.django.get(f"/accounts/oidc/{slug}/login/")
    assert response.status_code == 302
    return response["Location"]


def test_sign_in_provisions_user_with_mapped_memberships(oidc_settings, browser, acme, globex):
    landed = sign_in(browser)
    assert landed.url == "http://testserver/admin/" and landed.status == 200
    identity = SsoIdentity.objects.get(subject="alice-sub-1")
    assert identity.issuer == oidc_settings.FIXOPS_OIDC_PROVIDERS[0]["issuer"]
    user = identity.user
    assert user.email == "alice@corp.example" and user.username == "alice.corp"
    assert not user.has_usable_password() and user.is_staff and not user.is_superuser
    roles = {m.tenant.slug: (m.role, m.managed_by) for m in Membership.objects.filter(user=user)}
    assert roles == {"acme": ("admin", "oidc:corp"), "globex": ("viewer", "oidc:corp")}
    # The session works for the API too, in the selected tenant.
    me = browser.django.get("/api/v1/me/")
    assert me.status_code == 403 and me.json()["error"]["code"] == "tenant_not_selected"


def test_authorization_request_uses_pkce_state_and_nonce(oidc_settings, browser):
    params = parse_qs(urlsplit(authorize_url(browser)).query)
    assert params["code_challenge_method"] == ["S256"] and len(params["code_challenge"][0]) == 43
    assert len(params["state"][0]) >= 32 and len(params["nonce"][0]) >= 32
    assert params["redirect_uri"] == ["http://testserver/accounts/oidc/corp/callback/"]


def test_users_are_keyed_by_subject_not_email(oidc_settings, acme, globex):
    sign_in(Browser(Client()))
    sign_in(Browser(Client()), account="dave-sub-2", password="dave-idp-password")
    alice = SsoIdentity.objects.get(subject="alice-sub-1").user
    dave = SsoIdentity.objects.get(subject="dave-sub-2").user
    assert alice.pk != dave.pk and alice.email == dave.email
    assert Membership.objects.get(user=dave).role == "analyst"


def test_membership_removed_when_mapping_no_longer_grants_it(oidc_settings, browser, acme, globex):
    sign_in(browser)
    user = SsoIdentity.objects.get(subject="alice-sub-1").user
    manual = Membership.objects.create(user=user, tenant=_tenant("initech"), role="viewer")
    oidc_settings.FIXOPS_SSO_MAPPING = [
        {"group": "acme-admins", "tenant": "acme", "role": "analyst"}
    ]
    oidc_settings.FIXOPS_OIDC_PROVIDERS = [provider_entry(_issuer(oidc_settings))]
    sign_in(Browser(Client()))
    roles = {m.tenant.slug: m.role for m in Membership.objects.filter(user=user)}
    # globex is gone, acme downgraded; the hand-made membership is untouched.
    assert roles == {"acme": "analyst", "initech": "viewer"}
    assert Membership.objects.filter(pk=manual.pk).exists()


def test_no_group_grants_access_is_refused(oidc_settings, browser, acme):
    page = sign_in(browser, account="erin-sub-3", password="erin-idp-password")
    assert page.status == 403 and "no group that grants access" in page.text
    assert not SsoIdentity.objects.filter(subject="erin-sub-3").exists()
    assert browser.django.get("/api/v1/me/").status_code in (401, 403)


def test_wrong_idp_password_stays_at_the_idp(oidc_settings, browser, acme):
    page = sign_in(browser, password="wrong")
    assert page.status == 401 and "wrong login or password" in page.text
    assert not SsoIdentity.objects.exists()


def test_replayed_or_foreign_state_is_refused(oidc_settings, browser, acme, globex):
    page = start(browser)
    form = page.forms()[0]
    idp = browser.http.post(
        requests.compat.urljoin(page.url, form.action),
        data={**form.fields, "login": "alice-sub-1", "password": "alice-idp-password"},
        allow_redirects=False,
    )
    # Follow the IdP's own redirects until it sends the browser back to FixOps.
    while not idp.headers["Location"].startswith("http://testserver/"):
        idp = browser.http.get(
            requests.compat.urljoin(idp.url, idp.headers["Location"]), allow_redirects=False
        )
    callback = idp.headers["Location"]
    # Another browser (login CSRF: the attacker's code in the victim's session) is refused.
    other = Browser(Client()).get(callback)
    assert other.status == 403 and "unknown or reused state" in other.text
    first = browser.get(callback)
    assert first.url == "http://testserver/admin/"
    # The same callback again: the state was used up.
    browser.django.logout()
    again = browser.get(callback)
    assert again.status == 403 and "unknown or reused state" in again.text


def test_wrong_nonce_is_refused(oidc_settings, browser, acme):
    # Two sign-ins started in one browser; the code of the first is delivered with the second
    # state. Without PKCE (this client), only the nonce check can catch the swap.
    first = authorize_url(browser, "corp-nopkce")
    second = authorize_url(browser, "corp-nopkce")
    second_state = parse_qs(urlsplit(second).query)["state"][0]
    page = browser.get(first)
    form = page.forms()[0]
    response = browser.http.post(
        requests.compat.urljoin(page.url, form.action),
        data={**form.fields, "login": "alice-sub-1", "password": "alice-idp-password"},
        allow_redirects=False,
    )
    while not response.headers["Location"].startswith("http://testserver/"):
        response = browser.http.get(
            requests.compat.urljoin(response.url, response.headers["Location"]),
            allow_redirects=False,
        )
    code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
    swapped = browser.get(f"/accounts/oidc/corp-nopkce/callback/?code={code}&state={second_state}")
    assert swapped.status == 403 and "nonce does not match" in swapped.text
    assert not SsoIdentity.objects.exists()


def idp_code(browser, authorize: str, account="alice-sub-1", password="alice-idp-password"):
    """Sign in at the IdP; returns the URL the IdP sends the browser back to (not followed)."""
    page = browser.get(authorize)
    form = page.forms()[0]
    response = browser.http.post(
        requests.compat.urljoin(page.url, form.action),
        data={**form.fields, "login": account, "password": password},
        allow_redirects=False,
    )
    while not response.headers["Location"].startswith("http://testserver/"):
        response = browser.http.get(
            requests.compat.urljoin(response.url, response.headers["Location"]),
            allow_redirects=False,
        )
    return response.headers["Location"]


def test_expired_id_token_is_refused(oidc_settings, browser, acme, oidc_idp):
    # The token answer is held back past the ID token's one-second lifetime (no leeway).
    with TokenProxy(f"{oidc_idp.issuer}/token") as proxy:
        proxy.delay = 2.2
        oidc_settings.FIXOPS_OIDC_PROVIDERS = [
            provider_entry(oidc_idp, "corp-short", "fixops-short", leeway=0)
            | {"endpoints": {"token_endpoint": proxy.url}}
        ]
        landed = browser.get(idp_code(browser, authorize_url(browser, "corp-short")))
    assert landed.status == 403 and "ID token has expired" in landed.text
    assert not SsoIdentity.objects.exists()


def test_id_token_minted_for_another_client_is_refused(oidc_settings, browser, acme, oidc_idp):
    victim = authorize_url(browser)
    nonce = parse_qs(urlsplit(victim).query)["nonce"][0]
    # The attacker runs its own flow as client "other-app", with the victim's nonce, and gets
    # a genuinely signed ID token whose audience is other-app.
    verifier = "v" * 64
    attacker = (
        requests.Request(
            "GET",
            f"{oidc_idp.issuer}/auth",
            params={
                "client_id": "other-app",
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": "http://testserver/accounts/oidc/corp-wrongaud/callback/",
                "state": "attacker-state",
                "nonce": nonce,
                "code_challenge": generate_code_challenge(verifier, "S256"),
                "code_challenge_method": "S256",
            },
        )
        .prepare()
        .url
    )
    code = parse_qs(urlsplit(idp_code(Browser(Client()), attacker)).query)["code"][0]
    stolen = requests.post(
        f"{oidc_idp.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://testserver/accounts/oidc/corp-wrongaud/callback/",
            "code_verifier": verifier,
        },
        auth=("other-app", "other-app-secret-0123456789"),
        timeout=10,
    ).json()["id_token"]
    assert jwt.decode(stolen, options={"verify_signature": False})["aud"] == "other-app"
    with TokenProxy(f"{oidc_idp.issuer}/token") as proxy:
        proxy.transform = lambda body: {**body, "id_token": stolen}
        oidc_settings.FIXOPS_OIDC_PROVIDERS = [
            provider_entry(oidc_idp) | {"endpoints": {"token_endpoint": proxy.url}}
        ]
        landed = browser.get(idp_code(browser, victim))
    assert landed.status == 403 and "issued to another client" in landed.text
    assert not SsoIdentity.objects.exists()


def test_forged_and_misaddressed_id_tokens_are_refused(oidc_settings, oidc_idp):
    from apps.tenants.sso.config import oidc_providers
    from apps.tenants.sso.oidc import validate_id_token
    from apps.tenants.sso.provisioning import SsoError

    provider = oidc_providers()["corp"]
    real = oidc_idp.keys[0]
    now = int(time.time())
    claims = {
        "iss": oidc_idp.issuer,
        "sub": "x",
        "aud": "fixops",
        "iat": now,
        "exp": now + 60,
        "nonce": "n",
    }

    def sign(payload, key=real, kid=None, alg="RS256"):
        private = jwt.algorithms.RSAAlgorithm.from_jwk(key)
        return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid or key["kid"]})

    assert validate_id_token(provider, sign(claims), nonce="n")["sub"] == "x"
    cases = {
        "sso_bad_audience": sign({**claims, "aud": "other-app"}),
        "sso_bad_issuer": sign({**claims, "iss": "http://127.0.0.1:1"}),
        "sso_token_expired": sign({**claims, "exp": now - 120, "iat": now - 300}),
        "sso_bad_nonce": sign({**claims, "nonce": "other"}),
        # An attacker's key with the IdP's kid: the signature does not verify.
        "sso_bad_signature": sign(claims, key=new_signing_key(), kid=real["kid"]),
        # An attacker's key with its own kid: the IdP does not publish it.
        "sso_bad_token": sign(claims, key=new_signing_key()),
    }
    for code, token in cases.items():
        with pytest.raises(SsoError) as refused:
            validate_id_token(provider, token, nonce="n")
        assert refused.value.code == code, (code, refused.value.message)
    header, payload, signature = sign(claims).split(".")
    tampered = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(payload).replace(b'"sub":"x"', b'"sub":"y"')
    ).decode()
    with pytest.raises(SsoError, match="signature"):
        validate_id_token(provider, f"{header}.{tampered}.{signature}", nonce="n")
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(SsoError, match="algorithm"):
        validate_id_token(provider, unsigned, nonce="n")
    hs = jwt.encode(claims, "fixops-secret-0123456789", algorithm="HS256")
    with pytest.raises(SsoError, match="algorithm"):
        validate_id_token(provider, hs, nonce="n")
    assert rsa  # the attacker keys above are real RSA keys


def test_idp_key_rotation_is_followed(settings, db, acme, globex):
    idp = make_provider().start()
    try:
        cache.clear()
        settings.FIXOPS_SSO_MAPPING = [{"group": "acme-admins", "tenant": "acme", "role": "admin"}]
        settings.FIXOPS_OIDC_JWKS_MIN_REFRESH_SECONDS = 0
        settings.FIXOPS_OIDC_PROVIDERS = [provider_entry(idp)]
        assert sign_in(Browser(Client())).url == "http://testserver/admin/"
        old_kid = idp.keys[0]["kid"]
        new = idp.rotate_keys()  # restarts with only a new key; FixOps still caches the old
        assert new["kid"] != old_kid
        assert sign_in(Browser(Client())).url == "http://testserver/admin/"
        published = requests.get(f"{idp.issuer}/jwks", timeout=5).json()["keys"]
        assert [k["kid"] for k in published] == [new["kid"]]
    finally:
        idp.stop()
        cache.clear()


def test_logout_is_rp_initiated(oidc_settings, browser, acme, globex, oidc_idp):
    sign_in(browser)
    csrf = browser.django.cookies["csrftoken"].value
    response = browser.django.post("/accounts/logout/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert f"{target.scheme}://{target.netloc}" == oidc_idp.issuer
    params = parse_qs(target.query)
    assert params["client_id"] == ["fixops"] and params["id_token_hint"][0].count(".") == 2
    assert params["post_logout_redirect_uri"] == ["http://testserver/accounts/login/"]
    assert browser.django.get("/api/v1/me/").status_code in (401, 403)
    # The IdP accepts the hint and asks to confirm the sign-out.
    confirm = browser.get(response["Location"])
    assert confirm.status == 200, confirm.text
    assert confirm.forms()


def test_unknown_provider_and_idp_errors(oidc_settings, browser):
    assert browser.get("/accounts/oidc/nope/login/").status == 404
    assert browser.get("/accounts/oidc/nope/callback/").status == 404
    denied = browser.get("/accounts/oidc/corp/callback/?error=access_denied&state=x")
    assert denied.status == 403 and "access_denied" in denied.text


def _tenant(slug):
    from tests.tenants.factories import TenantFactory

    return TenantFactory(slug=slug)


def _issuer(settings):
    class _Idp:
        issuer = settings.FIXOPS_OIDC_PROVIDERS[0]["issuer"]

    return _Idp()
