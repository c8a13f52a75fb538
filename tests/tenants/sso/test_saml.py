"""SAML 2.0 sign-in against a real pysaml2 IdP on loopback (signatures by xmlsec1): the full
browser flow through the HTTP-Redirect and HTTP-POST bindings, the shared mapping, and the
attacks: unsigned and tampered assertions, wrong audience and recipient, expiry, replay."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.test import Client

from apps.tenants.models import Membership, SamlAssertionSeen, SsoIdentity
from tests.fakes.idp.browser import Browser
from tests.fakes.idp.saml_idp import SamlIdp, make_keypair

pytestmark = pytest.mark.django_db

USERS = {
    "carol": {
        "password": "carol-idp-password",
        "name_id": "carol-persistent-7f3a",
        "attributes": {
            "email": ["carol@corp.example"],
            "displayName": ["Carol Saml"],
            "uid": ["carol"],
            "groups": ["acme-viewers", "globex-approvers"],
        },
    },
}
MAPPING = [
    {"group": "acme-viewers", "tenant": "acme", "role": "viewer"},
    {"group": "acme-admins", "tenant": "acme", "role": "admin"},
    {"group": "globex-approvers", "tenant": "globex", "role": "approver"},
]


@pytest.fixture(scope="module")
def saml_idp():
    idp = SamlIdp(USERS).start()
    yield idp
    idp.stop()


@pytest.fixture(scope="module")
def sp_keys():
    with tempfile.TemporaryDirectory(prefix="fixops-sp-") as folder:
        yield make_keypair(Path(folder), "sp")


def configure(settings, idp: SamlIdp, sp_keys, **extra) -> None:
    key, cert = sp_keys
    settings.FIXOPS_PUBLIC_URL = "http://testserver"
    settings.FIXOPS_SAML_SP_KEY_FILE = key
    settings.FIXOPS_SAML_SP_CERT_FILE = cert
    settings.FIXOPS_SSO_MAPPING = MAPPING
    settings.FIXOPS_SAML_PROVIDERS = [
        {
            "slug": "corp-saml",
            "name": "Corp SAML",
            "entity_id": idp.entity_id,
            "metadata_file": idp.metadata_file(),
            **extra,
        }
    ]
    idp.trust_sp(Client().get("/saml2/metadata/").content)


@pytest.fixture
def saml(settings, saml_idp, sp_keys, acme, globex):
    saml_idp.mode = "ok"
    configure(settings, saml_idp, sp_keys)
    return saml_idp


def to_acs(browser, idp: SamlIdp):
    """Start at FixOps, sign in at the IdP; returns the IdP's auto-post page (not posted)."""
    login = browser.get("/accounts/login/")
    assert "Sign in with Corp SAML" in login.text
    page = browser.get(f"/saml2/login/?idp={idp.entity_id}&next=/admin/")
    assert page.url.startswith(idp.base) and page.status == 200, page.text
    posted = browser.submit(page, username="carol", password="carol-idp-password")
    assert posted.status == 200 and "SAMLResponse" in posted.text, posted.text
    return posted


def test_sp_metadata_is_published(saml):
    response = Client().get("/saml2/metadata/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'entityID="http://testserver/saml2/metadata/"' in body
    assert "http://testserver/saml2/acs/" in body and 'WantAssertionsSigned="true"' in body
    assert "X509Certificate" in body


def test_sign_in_provisions_user_with_mapped_memberships(saml):
    browser = Browser(Client())
    landed = browser.submit(to_acs(browser, saml))
    assert landed.url == "http://testserver/admin/" and landed.status == 200, landed.text
    identity = SsoIdentity.objects.get(subject="carol-persistent-7f3a")
    assert identity.issuer == saml.entity_id and identity.protocol == "saml"
    user = identity.user
    assert user.email == "carol@corp.example" and user.first_name == "Carol" and user.is_staff
    roles = {m.tenant.slug: (m.role, m.managed_by) for m in Membership.objects.filter(user=user)}
    assert roles == {"acme": ("viewer", "saml:corp-saml"), "globex": ("approver", "saml:corp-saml")}
    assert SamlAssertionSeen.objects.filter(issuer=saml.entity_id).count() == 1


def test_mapping_change_removes_membership_at_next_sign_in(saml, settings):
    browser = Browser(Client())
    browser.submit(to_acs(browser, saml))
    settings.FIXOPS_SSO_MAPPING = [MAPPING[0]]
    again = Browser(Client())
    assert again.submit(to_acs(again, saml)).url == "http://testserver/admin/"
    user = SsoIdentity.objects.get().user
    assert {m.tenant.slug for m in Membership.objects.filter(user=user)} == {"acme"}


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("unsigned", "not signed correctly"),
        ("tampered", "not signed correctly"),
        ("wrong_audience", "not addressed to FixOps"),
        ("wrong_recipient", "not addressed to FixOps"),
        ("expired", "expired"),
    ],
)
def test_attacks_are_refused(saml, mode, message):
    saml.mode = mode
    browser = Browser(Client())
    refused = browser.submit(to_acs(browser, saml))
    assert refused.status in (400, 403), refused.text
    assert message in refused.text, refused.text
    assert not SsoIdentity.objects.exists()
    assert browser.django.get("/api/v1/me/").status_code in (401, 403)


def test_replayed_response_is_refused(saml):
    browser = Browser(Client())
    landed = browser.submit(to_acs(browser, saml))
    assert landed.url == "http://testserver/admin/"
    url, data = (
        next((u, d) for u, d in [browser.last_post] if u.endswith("/saml2/acs/"))
        if browser.last_post[0].endswith("/saml2/acs/")
        else _acs_post(browser)
    )
    # The same browser (its outstanding request was consumed) and another browser.
    for replayer in (browser, Browser(Client())):
        replayer.django.logout()
        page = replayer.request("POST", url, data)
        assert page.status in (400, 403) and "already used" in page.text, page.text


def test_replay_is_caught_by_the_assertion_cache_when_idp_initiated_is_allowed(
    saml, settings, sp_keys
):
    configure(settings, saml, sp_keys, allow_idp_initiated=True)
    browser = Browser(Client())
    posted = to_acs(browser, saml)
    form = posted.forms()[0]
    assert browser.submit(posted).url == "http://testserver/admin/"
    attacker = Browser(Client())
    page = attacker.request("POST", form.action, form.fields)
    assert page.status == 403 and "already used (replay refused)" in page.text, page.text


def test_unsolicited_response_is_refused_by_default(saml):
    browser = Browser(Client())
    posted = to_acs(browser, saml)
    form = posted.forms()[0]
    # Delivered to a browser that never started this sign-in.
    page = Browser(Client()).request("POST", form.action, form.fields)
    assert page.status in (400, 403) and "does not answer a sign-in started here" in page.text


def test_unknown_idp_and_missing_response(saml):
    browser = Browser(Client())
    assert browser.get("/saml2/login/?idp=http://127.0.0.1:1/nope").status == 403
    assert browser.request("POST", "/saml2/acs/", {}).status == 400


def _acs_post(browser):
    raise AssertionError("the last POST was not to the ACS")
