"""The group/claim -> tenant + role mapping shared by OIDC and SAML."""

from __future__ import annotations

import pytest

from apps.tenants.sso.mapping import MappingError, grants_for, groups_from, parse_rules

RULES = parse_rules(
    [
        {"group": "sec", "tenant": "acme", "role": "analyst"},
        {"group": "sec-leads", "tenant": "acme", "role": "approver"},
        {"claim": "department", "equals": "grc", "tenant": "globex", "role": "viewer"},
        {"claim": "roles", "equals": "auditor", "tenant": "initech", "role": "viewer"},
    ]
)


def test_highest_role_wins_and_claims_match():
    grants = grants_for(
        RULES, groups=["sec", "sec-leads"], claims={"department": "grc", "roles": ["auditor"]}
    )
    assert grants == {"acme": "approver", "globex": "viewer", "initech": "viewer"}
    assert grants_for(RULES, groups=["sec-leads", "sec"], claims={})["acme"] == "approver"
    assert grants_for(RULES, groups=[], claims={"department": "sales"}) == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"group": "x"}, "must be a JSON list"),
        (["nope"], r"mapping\[0\] must be an object"),
        ([{"group": "g", "tenant": "acme", "role": "admin", "x": 1}], "unknown key"),
        ([{"group": "g", "role": "admin"}], "needs a tenant slug"),
        ([{"group": "g", "tenant": "Not A Slug", "role": "admin"}], "is not a tenant slug"),
        ([{"group": "g", "tenant": "acme", "role": "owner"}], "role must be one of"),
        ([{"tenant": "acme", "role": "admin"}], 'either "group" or "claim"'),
        (
            [{"group": "g", "claim": "c", "equals": "v", "tenant": "acme", "role": "admin"}],
            'either "group" or "claim"',
        ),
    ],
)
def test_bad_rules_are_named(raw, message):
    with pytest.raises(MappingError, match=message):
        parse_rules(raw)


def test_groups_claim_shapes():
    assert groups_from(None) == [] and groups_from("a") == ["a"]
    assert groups_from(("a", 1)) == ["a", "1"] and groups_from({"a": 1}) == []


def test_oidc_provider_config_errors(settings):
    from apps.tenants.sso.config import SsoConfigError, oidc_providers

    base = {"slug": "corp", "issuer": "https://idp.example", "client_id": "c", "client_secret": "s"}
    cases = [
        ({**base, "issuer": "http://idp.example"}, "https://"),
        ({**base, "sign_algs": ["HS256"]}, "asymmetric"),
        ({**base, "token_auth": "private_key_jwt"}, "token_auth"),
        ({**base, "endpoints": {"evil": "x"}}, "endpoints may only set"),
        ({**base, "scopes": "email"}, "must include openid"),
        ({**base, "client_id": ""}, "client_id must be a non-empty string"),
    ]
    for entry, message in cases:
        settings.FIXOPS_OIDC_PROVIDERS = [entry]
        with pytest.raises(SsoConfigError, match=message):
            oidc_providers()
    settings.FIXOPS_OIDC_PROVIDERS = [base, base]
    with pytest.raises(SsoConfigError, match="used twice"):
        oidc_providers()
    settings.FIXOPS_OIDC_PROVIDERS = {"not": "a list"}
    with pytest.raises(SsoConfigError, match="JSON list of objects"):
        oidc_providers()
