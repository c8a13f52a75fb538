"""Roles × tenants × every route: who may call what, in ONE table.

Every `/api/v1/` route and HTTP method its view implements needs a row in MATRIX: the least
role that may call it and the status its own tenant's caller gets with the request below.
Each row is checked for every role (viewer, analyst, approver, admin) against its own
tenant's objects and another tenant's: a role below the row's minimum gets 403 everywhere;
at or above it, its own tenant answers `own` and another tenant's object answers 404
(indistinguishable from a missing one). A route or method without a row fails the suite and
says exactly which row to add; a row for a route that no longer exists fails too.

Non-API pages (sign-in, SSO, health, docs) are in PAGES with the status an anonymous visitor
gets; the Django admin is covered by tests/tenants/test_admin_roles.py (roles) and
tests/tenants/test_admin_walk.py (every admin page, no other tenant on any).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.urls import URLPattern, get_resolver, reverse

from apps.tenants.roles import Role, role_at_least
from tests.tenants.test_isolation import NOT_TENANT_DATA, OBJECT_MAKERS, _walk, api_routes

pytestmark = pytest.mark.django_db

V, AN, AP, AD = Role.VIEWER, Role.ANALYST, Role.APPROVER, Role.ADMIN
ALLOW_ALL = (
    "package fixops.gate\n\nimport rego.v1\n\ndeny := set()\nreview := set()\nwarn := set()\n"
)
ROLES = (V, AN, AP, AD)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Row:
    least: str  # the least role allowed
    own: int | tuple[int, ...]  # status(es) for an allowed caller on its own tenant's data
    body: dict = field(default_factory=dict)  # the request body sent (JSON)


# (url name, method): Row. Keep it sorted by area; add a row for every new route/method.
MATRIX: dict[tuple[str, str], Row] = {
    # --- identity and tokens (apps/tenants) ---
    ("me", "GET"): Row(V, 200),
    ("token-list", "GET"): Row(AD, 200),
    ("token-list", "POST"): Row(AD, 201, {"name": "matrix", "role": "viewer"}),
    ("token-detail", "GET"): Row(AD, 200),
    ("token-detail", "DELETE"): Row(AD, 204),
    ("token-rotate", "POST"): Row(AD, 201),
    ("team-list", "GET"): Row(V, 200),
    ("team-list", "POST"): Row(AD, 201, {"name": "matrix-team"}),
    ("team-detail", "GET"): Row(V, 200),
    ("team-detail", "PATCH"): Row(AD, 200, {"name": "matrix-renamed"}),
    ("team-detail", "DELETE"): Row(AD, 204),
    # --- applications, scans, findings (apps/findings) ---
    ("application-list", "GET"): Row(V, 200),
    ("application-list", "POST"): Row(AN, 201, {"name": "matrix-app"}),
    ("application-detail", "GET"): Row(V, 200),
    ("application-detail", "PUT"): Row(AN, (200, 400), {"name": "matrix-renamed"}),
    ("application-detail", "PATCH"): Row(AN, 200, {"description": "matrix"}),
    ("application-detail", "DELETE"): Row(AD, 204),
    ("application-sla", "GET"): Row(V, 200),
    ("scan-list", "GET"): Row(V, 200),
    ("scan-list", "POST"): Row(AN, (400, 415)),  # authorised; an empty upload is refused
    ("scan-detail", "GET"): Row(V, 200),
    ("finding-list", "GET"): Row(V, 200),
    ("finding-detail", "GET"): Row(V, 200),
    ("finding-transition", "POST"): Row(AN, 200, {"status": "triaged", "reason": "matrix"}),
    ("finding-assign", "POST"): Row(AN, 200, {"owner": None}),
    ("finding-bulk-assign", "POST"): Row(AN, 400),  # authorised; an empty body is refused
    ("finding-comment-list", "GET"): Row(V, 200),
    ("finding-comment-list", "POST"): Row(AN, 201, {"body": "matrix"}),
    # The maker's comment is someone else's: only its author edits it (403 for every token)…
    ("finding-comment-detail", "PATCH"): Row(AN, 403, {"body": "matrix"}),
    # …and only its author or an admin deletes it (analyst, approver 403; admin 204).
    ("finding-comment-detail", "DELETE"): Row(AN, (204, 403)),
    ("stream-list", "GET"): Row(V, 200),
    # Authorised; no such application (a stream is named by its key, not a path id).
    ("stream-retire", "POST"): Row(AN, 404, {"application": "no-such-app", "tool": "trivy"}),
    # --- policies, decisions, risk acceptances (apps/policies) ---
    ("decision-list", "GET"): Row(V, 200),
    ("decision-list", "POST"): Row(AN, 404, {"application": "no-such-app"}),  # authorised
    ("decision-detail", "GET"): Row(V, 200),
    ("policy-list", "GET"): Row(V, 200),
    ("policy-list", "POST"): Row(AP, 201, {"name": "matrix-policy", "source": ALLOW_ALL}),
    ("policy-validate", "POST"): Row(V, 200, {"source": ALLOW_ALL}),
    ("policy-detail", "GET"): Row(V, 200),
    ("policy-detail", "PATCH"): Row(AP, 200, {"description": "matrix"}),
    ("policy-versions", "GET"): Row(V, 200),
    ("policy-versions", "POST"): Row(AP, 201, {"source": ALLOW_ALL}),
    ("policy-activate", "POST"): Row(AP, 200, {"version": 1}),
    ("policy-simulate", "POST"): Row(AN, 200, {"version": 1}),
    ("policy-simulate-noslash", "POST"): Row(AN, 200, {"version": 1}),
    ("policy-assignment-list", "GET"): Row(V, 200),
    ("policy-assignment-list", "POST"): Row(AP, 400),  # authorised; an empty body is refused
    ("policy-assignment-detail", "DELETE"): Row(AP, 204),
    ("acceptance-list", "GET"): Row(V, 200),
    ("acceptance-list", "POST"): Row(AN, 400),  # authorised; an empty body is refused
    ("acceptance-detail", "GET"): Row(V, 200),
    # Reviews need a person: every API token, even an admin's, gets 403 reviewer_required.
    ("acceptance-approve", "POST"): Row(AP, 403),
    ("acceptance-reject", "POST"): Row(AP, 403, {"note": "matrix"}),
    ("acceptance-revoke", "POST"): Row(AP, 409),  # authorised; the acceptance is not approved
    # --- evidence and audit (apps/evidence) ---
    ("evidence-list", "GET"): Row(V, 200),
    ("evidence-keys", "GET"): Row(V, 200),
    ("evidence-export", "GET"): Row(AP, 200),
    ("evidence-detail", "GET"): Row(V, 200),
    ("evidence-bundle", "GET"): Row(V, 200),
    ("evidence-verify", "GET"): Row(V, 200),
    ("audit-list", "GET"): Row(AP, 200),
    # --- integrations and the outbox (apps/connectors) ---
    ("integration-list", "GET"): Row(V, 200),
    ("integration-list", "POST"): Row(AD, 400),  # authorised; an empty body is refused
    ("integration-kinds", "GET"): Row(V, 200),
    ("integration-detail", "GET"): Row(V, 200),
    ("integration-detail", "PUT"): Row(AD, 400),  # authorised; PUT needs the whole object
    # The maker's integration has a host that does not resolve and no project: every write
    # or vendor check of it is refused with 400 invalid_integration, once authorised.
    ("integration-detail", "PATCH"): Row(AD, 400, {"name": "matrix-renamed"}),
    ("integration-detail", "DELETE"): Row(AD, 204),
    ("integration-test", "POST"): Row(AD, 400),
    ("integration-test-slash", "POST"): Row(AD, 400),
    ("integration-sync", "POST"): Row(AD, 200),
    ("integration-sync-slash", "POST"): Row(AD, 200),
    ("integration-drift", "GET"): Row(V, 200),
    ("integration-rotate-webhook-secret", "POST"): Row(AD, 200),
    ("integration-rotate-webhook-secret-no-slash", "POST"): Row(AD, 200),
    ("outbox-list", "GET"): Row(V, 200),
    ("outbox-detail", "GET"): Row(V, 200),
    ("outbox-replay", "POST"): Row(AD, 200),
    ("outbox-cancel", "POST"): Row(AD, 409),  # authorised; the maker's message is already dead
    ("notification-rule-list", "GET"): Row(V, 200),
    ("notification-rule-list", "POST"): Row(AD, 400),  # authorised; an empty body is refused
    ("notification-rule-detail", "GET"): Row(V, 200),
    ("notification-rule-detail", "PUT"): Row(AD, 400),  # authorised; PUT needs the whole object
    ("notification-rule-detail", "PATCH"): Row(AD, 200, {"min_severity": "high"}),
    ("notification-rule-detail", "DELETE"): Row(AD, 204),
    # --- AI advisory (apps/advisory): providers and usage are admin-only; settings are read by
    # everyone, changed by admins; the published answer schemas are the same for all ---
    ("advisory-provider-list", "GET"): Row(AD, 200),
    ("advisory-provider-list", "POST"): Row(AD, 400),  # authorised; an empty body is refused
    ("advisory-provider-detail", "GET"): Row(AD, 200),
    ("advisory-provider-detail", "PUT"): Row(AD, 400),  # authorised; PUT needs the whole object
    ("advisory-provider-detail", "PATCH"): Row(AD, 200, {"weight": 2}),
    ("advisory-provider-detail", "DELETE"): Row(AD, 204),
    ("advisory-usage", "GET"): Row(AD, 200),
    ("advisory-settings", "GET"): Row(V, 200),
    ("advisory-settings", "PATCH"): Row(AD, 200, {"consensus_threshold": 0.9}),
    ("advisory-schema-triage", "GET"): Row(V, 200),
    ("advisory-schema-brief", "GET"): Row(V, 200),
    # --- analytics (apps/workspace): the caller's own tenant's numbers, nothing to name ---
    ("analytics-summary", "GET"): Row(V, 200),
    ("analytics-trends", "GET"): Row(V, 200),
    ("analytics-sla", "GET"): Row(V, 200),
    # --- AI advice (apps/advisory) ---
    # The finding and decision makers leave advisory off: the feature is absent, so 404.
    ("finding-advice", "GET"): Row(V, 404),
    ("finding-advice", "POST"): Row(AN, 404),
    ("decision-brief", "GET"): Row(V, 404),
    ("decision-brief", "POST"): Row(AN, 404),
    # The advice maker turns advisory on.
    ("advice-detail", "GET"): Row(V, 200),
    ("advice-feedback", "POST"): Row(AN, 400),  # authorised; an empty body is refused
    # --- reports (apps/workspace) ---
    ("report-application", "GET"): Row(V, 200),
    ("report-tenant", "GET"): Row(V, 200),
}

# Routes checked elsewhere (not tenant data); each says why.
NOT_IN_MATRIX = {**NOT_TENANT_DATA}

# Non-API routes: (route as in the URL conf) -> status for an anonymous GET.
PAGES: dict[str, int | tuple[int, ...]] = {
    "healthz": 200,
    "readyz": (200, 503),
    "metrics": 200,  # the test client is 127.0.0.1, inside the default allowlist; see test_metrics
    "api/schema/": 200,
    "api/docs/": 200,
    "accounts/login/": 200,
    "accounts/login/otp/": 400,  # no password step pending
    "accounts/login/enrol/": 400,
    "accounts/recovery-codes/": 405,  # POST only
    "accounts/logout/": 200,
    "accounts/tenant/": 405,  # the admin's tenant switcher: POST only
    "accounts/oidc/<slug:slug>/login/": 404,  # no such provider configured here
    "accounts/oidc/<slug:slug>/callback/": 404,
    "saml2/login/": 404,  # no SAML provider configured here
    "saml2/acs/": 404,  # every SAML endpoint is 404 without a SAML provider
    "saml2/metadata/": 404,
    "hooks/<str:public_id>/": 405,  # vendors POST signed deliveries (tests/connectors/inbound)
    "hooks/<str:public_id>": 405,
    "admin/login/": 302,
    "admin/logout/": 200,
    "": 302,
}


def route_methods() -> list[tuple[str, URLPattern, str]]:
    found = []
    for route, pattern in api_routes():
        if pattern.name in NOT_IN_MATRIX:
            continue
        view = pattern.callback.view_class
        found += [(route, pattern, m) for m in METHODS if hasattr(view, m.lower())]
    return found


def test_every_route_and_method_has_a_row():
    missing = [
        f"  ({p.name!r}, {m!r}): Row(<least role>, <own-tenant status>),  # {m} /{route}"
        for route, p, m in route_methods()
        if (p.name, m) not in MATRIX
    ]
    assert not missing, (
        "These API routes have no row in MATRIX (tests/tenants/test_matrix.py); add:\n"
        + "\n".join(missing)
    )


def test_no_row_for_a_route_that_does_not_exist():
    existing = {(p.name, m) for _, p, m in route_methods()}
    assert not set(MATRIX) - existing, f"stale MATRIX rows: {sorted(set(MATRIX) - existing)}"


@pytest.mark.parametrize(("route", "pattern", "method"), route_methods(), ids=str)
def test_role_by_tenant(route, pattern, method, acme, globex, issue_token, api_client):
    row = MATRIX.get((pattern.name, method))
    assert row is not None, (
        f"No MATRIX row for {method} /{route} (url name {pattern.name!r}): add "
        f"({pattern.name!r}, {method!r}): Row(<least role>, <own-tenant status>) to MATRIX"
    )
    kwargs = list(pattern.pattern.converters)
    missing = set(kwargs) - set(OBJECT_MAKERS)
    assert not missing, f"register a maker for {missing} of {route} in test_isolation.OBJECT_MAKERS"
    for role in ROLES:
        # Each role gets fresh objects; its writes are rolled back before the next role.
        with transaction.atomic():
            _check_role(
                route, pattern, method, row, role, kwargs, acme, globex, issue_token, api_client
            )
            transaction.set_rollback(True)


def _check_role(route, pattern, method, row, role, kwargs, acme, globex, issue_token, api_client):
    own_ok = row.own if isinstance(row.own, tuple) else (row.own,)
    if True:
        client = api_client(issue_token(acme, role=role, name=f"matrix-{role}"))
        targets = [("own", acme)] + ([("other", globex)] if kwargs else [])
        for where, tenant in targets:
            values = {k: OBJECT_MAKERS[k](tenant, issue_token)[0] for k in kwargs}
            path = reverse(f"v1:{pattern.name}", kwargs=values)
            response = getattr(client, method.lower())(path, row.body, format="json")
            allowed = role_at_least(role, row.least)
            if not allowed:
                expected: tuple[int, ...] = (403,)
            elif where == "own":
                expected = own_ok
            else:
                expected = (404,)
            assert response.status_code in expected, (
                f"{method} /{route} as {role} on {where} tenant: got {response.status_code}, "
                f"expected {expected}: {response.content[:300]!r}"
            )


def test_every_page_has_a_row():
    routes = [
        route
        for route, _ in _walk(get_resolver().url_patterns)
        if not route.startswith(("api/v1/", "admin/")) or route in ("admin/login/", "admin/logout/")
    ]
    missing = sorted(set(routes) - set(PAGES))
    assert not missing, f"add these routes to PAGES in tests/tenants/test_matrix.py: {missing}"


@pytest.mark.parametrize("route", sorted(PAGES), ids=str)
def test_pages_for_anonymous_visitors(route, client):
    path = "/" + route.replace("<slug:slug>", "nope")
    response = client.get(path)
    expected = PAGES[route] if isinstance(PAGES[route], tuple) else (PAGES[route],)
    assert response.status_code in expected, (path, response.status_code)
