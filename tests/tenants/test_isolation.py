"""Tenant isolation across every API route, discovered from the URL conf.

Every `/api/v1/` pattern is exercised with a token of tenant A against tenant B's objects. A
new route with a path parameter must register how to create tenant B's object below, or this
test fails: no endpoint can land without being covered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.findings.models import Application, Finding, Scan
from apps.tenants.models import ApiToken
from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory

pytestmark = pytest.mark.django_db


def _app(tenant):
    app = ApplicationFactory(tenant=tenant, name=f"victim-app-{tenant.slug}")
    return app.pk, app.name


def _token(tenant, issue):
    prefix = issue(tenant, name="victim").split("_")[1]
    return prefix, prefix


# URL kwarg -> maker(tenant, issue_token) -> (kwarg value, a string unique to that object).
OBJECT_MAKERS: dict[str, Callable] = {
    "application_id": lambda tenant, _issue: _app(tenant),
    "prefix": _token,
    "scan_id": lambda tenant, _issue: _scan(tenant),
    "finding_id": lambda tenant, _issue: _finding(tenant),
    # After finding_id: a comment path names the finding just made (the latest) and its comment.
    "comment_id": lambda tenant, _issue: _comment(tenant),
    "team_id": lambda tenant, _issue: _team(tenant),
    "integration_id": lambda tenant, _issue: _integration(tenant),
    "message_id": lambda tenant, _issue: _outbox_message(tenant),
    "rule_id": lambda tenant, _issue: _notification_rule(tenant),
    "policy_id": lambda tenant, _issue: _policy(tenant),
    "assignment_id": lambda tenant, _issue: _assignment(tenant),
    "decision_id": lambda tenant, _issue: _decision(tenant),
    "acceptance_id": lambda tenant, _issue: _acceptance(tenant),
    "evidence_id": lambda tenant, _issue: _evidence(tenant),
    "advice_id": lambda tenant, _issue: _advice(tenant),
    "provider_id": lambda tenant, _issue: _provider(tenant),
}
# Routes outside tenant data (they act on the caller only); each says why.
NOT_TENANT_DATA = {
    "me-tenant": "session-only tenant switch among the caller's own memberships",
}
METHODS = ("get", "put", "patch", "delete", "post")


def _scan(tenant):
    scan = ScanFactory(tenant=tenant, tool_name="victim-scan-tool")
    return scan.pk, scan.tool_name


def _finding(tenant):
    finding = FindingFactory(tenant=tenant, title="victim-finding-title")
    return finding.pk, finding.title


def _comment(tenant):
    from apps.findings.comments import comment_add

    finding = Finding.objects.filter(tenant=tenant).order_by("-id").first()
    finding = finding or Finding.objects.get(pk=_finding(tenant)[0])
    comment = comment_add(
        tenant=tenant, finding=finding, body="victim-comment-body", actor="user:victim-author"
    )
    return comment.pk, "victim-comment-body"


def _team(tenant):
    from apps.tenants.teams import team_create

    team = team_create(tenant=tenant, name="victim-team", actor="user:victim")
    return team.pk, "victim-team"


def _evidence(tenant):
    from tests.evidence.factories import make_bundle, make_decision

    bundle = make_bundle(make_decision(tenant, commit="victim-evidence-commit"))
    return bundle.pk, "victim-evidence-commit"


def _integration(tenant, name: str = "victim-integration"):
    from apps.connectors.models import Drift, Integration

    integration = Integration(
        tenant=tenant, kind="gitlab", name=name, base_url="https://gitlab.victim.example"
    )
    integration.credentials = {"token": "victim-secret-token"}
    integration.save()
    # Drift of the victim's: its reference carries the marker, so a leak shows in any body.
    Drift.objects.create(
        tenant=tenant, integration=integration, kind="ticket_deleted", reference=f"{name}-drift"
    )
    return integration.pk, name


def _provider(tenant, name: str = "victim-provider"):
    from apps.advisory.models import Provider

    provider, _ = Provider.objects.get_or_create(
        tenant=tenant,
        name=name,
        defaults={"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "victim-model"},
    )
    provider.api_key = "victim-provider-key"
    provider.save()
    return provider.pk, name


def _outbox_message(tenant):
    from apps.connectors.models import Integration, OutboxMessage

    integration = Integration.objects.get(pk=_integration(tenant, "victim-outbox-target")[0])
    message = OutboxMessage.objects.create(
        tenant=tenant,
        integration=integration,
        kind="upsert",
        reference="victim-outbox-reference",
        idempotency_key=f"victim-outbox-key-{tenant.slug}",
        ordering_key="victim",
        status="dead",
    )
    return message.pk, message.reference


def _notification_rule(tenant):
    from apps.connectors.models import Integration, NotificationRule

    integration = Integration.objects.get(pk=_integration(tenant, "victim-rule-channel")[0])
    rule = NotificationRule.objects.create(
        tenant=tenant,
        name="victim-notification-rule",
        events=["kev_added"],
        integration=integration,
    )
    return rule.pk, rule.name


def _policy(tenant, name: str = "victim-policy"):
    from apps.policies.services import pack, policy_create

    source, parameters = pack()
    policy = policy_create(tenant=tenant, name=name, source=source, parameters=parameters)
    return policy.pk, name


def _assignment(tenant):
    from apps.policies.models import PolicyAssignment

    policy_id, _ = _policy(tenant, "victim-assigned-policy")
    assignment = PolicyAssignment.objects.create(
        tenant=tenant, policy_id=policy_id, mode="log_only"
    )
    return assignment.pk, "victim-assigned-policy"


def _decision(tenant):
    from apps.pipeline.gate import decision_make

    app = ApplicationFactory(tenant=tenant, name="victim-decided-app")
    decision = decision_make(tenant=tenant, application=app, commit="victim-commit-sha")
    return decision.pk, "victim-commit-sha"


def _acceptance(tenant):
    from datetime import timedelta

    from django.utils import timezone

    from apps.policies.models import RiskAcceptance

    acceptance = RiskAcceptance.objects.create(
        tenant=tenant,
        scope="vulnerability_all",
        vuln_id="CVE-1999-0001",
        justification="victim-acceptance-justification",
        expires_at=timezone.now() + timedelta(days=5),
        requested_label="user:victim",
    )
    return acceptance.pk, "victim-acceptance-justification"


def _advice(tenant):
    """Advice of `tenant`, with advisory present for EVERY tenant (a provider nobody calls: no
    fan-out runs inside these tests), so a 404 proves the scoping, not the feature's absence."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.advisory.models import Advice, AdvisorySettings, Provider
    from apps.tenants.models import Tenant

    for each in Tenant.objects.all():
        AdvisorySettings.objects.update_or_create(
            tenant=each, defaults={"enabled": True, "data_sharing_accepted_at": timezone.now()}
        )
        Provider.objects.get_or_create(
            tenant=each,
            name="victim-model",
            defaults={"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        )
    finding = Finding.objects.get(pk=_finding(tenant)[0])
    advice = Advice.objects.create(
        tenant=tenant,
        task="triage",
        finding=finding,
        threshold=0.85,
        prompt_digest="0" * 64,
        redacted_text="victim-advice-text",
        requested_label="victim-advice-requester",
        deadline_at=timezone.now() + timedelta(hours=1),
    )
    return advice.pk, "victim-advice-requester"


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_routes() -> list[tuple[str, URLPattern]]:
    return [
        (route, p) for route, p in _walk(get_resolver().url_patterns) if route.startswith("api/v1/")
    ]


def test_the_walker_sees_the_api():
    names = {p.name for _, p in api_routes()}
    assert {"me", "application-list", "application-detail", "token-list"} <= names


@pytest.mark.parametrize(("route", "pattern"), api_routes(), ids=str)
def test_foreign_tenant_cannot_touch_objects(route, pattern, acme, globex, issue_token, api_client):
    if pattern.name in NOT_TENANT_DATA:
        return
    kwargs = list(pattern.pattern.converters)
    missing = set(kwargs) - set(OBJECT_MAKERS)
    assert not missing, f"register a maker for {missing} of {route} in OBJECT_MAKERS"
    foreign = {name: maker(globex, issue_token) for name, maker in OBJECT_MAKERS.items()}
    intruder = api_client(issue_token(acme, role="admin"))
    path = reverse(f"v1:{pattern.name}", kwargs={k: foreign[k][0] for k in kwargs})
    view = pattern.callback.view_class
    for method in METHODS:
        if not hasattr(view, method):
            continue
        response = getattr(intruder, method)(path, {}, format="json")
        # errors="replace": the evidence export answers a (binary) zip.
        body = response.content.decode(errors="replace")
        if kwargs:
            # Another tenant's object must look exactly like a missing one.
            assert response.status_code == 404, (method, path, body)
        else:
            assert response.status_code in (200, 201, 400, 415), (method, path, body)
        for _, marker in foreign.values():
            assert marker not in body, (method, path)
    # Nothing of globex changed or disappeared.
    for name, (value, marker) in foreign.items():
        assert OBJECT_STILL_THERE[name](globex, value, marker)


OBJECT_STILL_THERE: dict[str, Callable] = {
    "application_id": lambda tenant, pk, name: Application.objects.filter(
        tenant=tenant, pk=pk, name=name
    ).exists(),
    "scan_id": lambda tenant, pk, _: Scan.objects.filter(tenant=tenant, pk=pk).exists(),
    "finding_id": lambda tenant, pk, _: Finding.objects.filter(tenant=tenant, pk=pk).exists(),
    "comment_id": lambda tenant, pk, body: _findings_row("FindingComment", tenant, pk, body=body),
    "team_id": lambda tenant, pk, name: _tenants_row("Team", tenant, pk, name=name),
    "integration_id": lambda tenant, pk, name: _connectors_row("Integration", tenant, pk),
    "message_id": lambda tenant, pk, _: _connectors_row("OutboxMessage", tenant, pk, "dead"),
    "rule_id": lambda tenant, pk, _: _connectors_row("NotificationRule", tenant, pk),
    "policy_id": lambda tenant, pk, name: _policies_row("Policy", tenant, pk, name=name),
    "assignment_id": lambda tenant, pk, _: _policies_row("PolicyAssignment", tenant, pk),
    "decision_id": lambda tenant, pk, _: _policies_row("Decision", tenant, pk),
    "acceptance_id": lambda tenant, pk, _: _policies_row(
        "RiskAcceptance", tenant, pk, status="requested"
    ),
    "evidence_id": lambda tenant, pk, _: _evidence_row(tenant, pk),
    "advice_id": lambda tenant, pk, _: _advice_untouched(tenant, pk),
    "provider_id": lambda tenant, pk, name: _advisory_row("Provider", tenant, pk, name=name),
    "prefix": lambda tenant, prefix, _: ApiToken.objects.filter(
        tenant=tenant, prefix=prefix, revoked_at__isnull=True
    ).exists(),
}


def _advice_untouched(tenant, pk) -> bool:
    from apps.advisory.models import Advice, AdviceFeedback

    return (
        Advice.objects.filter(tenant=tenant, pk=pk, status="pending").exists()
        and not AdviceFeedback.objects.filter(advice_id=pk).exists()
    )


def _findings_row(model: str, tenant, pk, **fields) -> bool:
    from django.apps import apps

    return apps.get_model("findings", model).objects.filter(tenant=tenant, pk=pk, **fields).exists()


def _tenants_row(model: str, tenant, pk, **fields) -> bool:
    from django.apps import apps

    return apps.get_model("tenants", model).objects.filter(tenant=tenant, pk=pk, **fields).exists()


def _connectors_row(model: str, tenant, pk, status: str | None = None) -> bool:
    from django.apps import apps

    rows = apps.get_model("connectors", model).objects.filter(tenant=tenant, pk=pk)
    return rows.filter(status=status).exists() if status else rows.exists()


def test_lists_only_show_own_rows(acme, globex, issue_token, api_client):
    ApplicationFactory(tenant=acme, name="mine")
    ApplicationFactory(tenant=globex, name="theirs")
    client = api_client(issue_token(acme, role="viewer"))
    names = [a["name"] for a in client.get("/api/v1/applications/").json()["results"]]
    assert names == ["mine"]
    tokens = api_client(issue_token(acme, role="admin")).get("/api/v1/tokens/").json()
    globex_prefixes = {issue_token(globex).split("_")[1]}
    assert not globex_prefixes & {t["prefix"] for t in tokens["results"]}


def test_tenant_cannot_be_chosen_by_the_request(acme, globex, issue_token, api_client):
    ApplicationFactory(tenant=globex, name="theirs")
    client = api_client(issue_token(acme))
    for attempt in ({"tenant": "globex"}, {"tenant_id": globex.pk}):
        response = client.get("/api/v1/applications/", attempt, HTTP_X_FIXOPS_TENANT="globex")
        assert [a["name"] for a in response.json()["results"]] == []


def _policies_row(model: str, tenant, pk, **fields) -> bool:
    from apps.policies import models

    return getattr(models, model).objects.filter(tenant=tenant, pk=pk, **fields).exists()


def _advisory_row(model: str, tenant, pk, **fields) -> bool:
    from django.apps import apps

    return apps.get_model("advisory", model).objects.filter(tenant=tenant, pk=pk, **fields).exists()


def _evidence_row(tenant, pk) -> bool:
    from apps.evidence.models import EvidenceBundle
    from apps.evidence.services import evidence_verify

    bundle = EvidenceBundle.objects.filter(tenant=tenant, pk=pk).first()
    return bundle is not None and evidence_verify(bundle).valid
