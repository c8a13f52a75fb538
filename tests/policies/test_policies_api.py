"""Policy lifecycle through the API: validation with the line, immutable versions,
activation and rollback, global policies read-only, assignments, simulation."""

from __future__ import annotations

import pytest

from apps.pipeline.gate import decision_make
from apps.policies.models import Policy, PolicyVersion
from apps.policies.services import DEFAULT_POLICY_NAME, pack
from fixops.platform.models import AuditEvent
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db
HEADER = "package fixops.gate\n\nimport rego.v1\n\n"
ALLOW_ALL = HEADER + "deny := set()\nreview := set()\nwarn := set()\n"


@pytest.fixture
def approver(acme, issue_token, api_client):
    return api_client(issue_token(acme, role="approver"))


def _create(client, name="ours", source=ALLOW_ALL, **extra):
    return client.post(
        "/api/v1/policies/", {"name": name, "source": source, **extra}, format="json"
    )


def test_create_refuses_a_compile_error_with_its_line(approver):
    response = _create(approver, source=HEADER + "deny contains x if {\n  x := ==\n}\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_policy"
    assert error["details"]["line"] == 6
    assert "line 6" in error["message"]
    assert not Policy.objects.filter(name="ours").exists()


def test_validate_endpoint_checks_without_saving(acme_viewer):
    ok = acme_viewer.post("/api/v1/policies/validate/", {"source": ALLOW_ALL}, format="json")
    assert ok.json() == {"valid": True}
    bad = acme_viewer.post("/api/v1/policies/validate/", {"source": "package x\n"}, format="json")
    assert bad.status_code == 400 and "package fixops.gate" in bad.json()["error"]["message"]


def test_versions_activation_and_rollback(approver):
    policy = _create(approver).json()
    assert policy["active_version"]["number"] == 1
    url = f"/api/v1/policies/{policy['id']}"
    source, parameters = pack()
    added = approver.post(
        f"{url}/versions/",
        {"source": source, "parameters": parameters, "note": "pack"},
        format="json",
    )
    assert added.status_code == 201 and added.json()["number"] == 2
    assert approver.get(f"{url}/").json()["active_version"]["number"] == 1  # not yet active
    assert (
        approver.post(f"{url}/activate/", {"version": 2}, format="json").json()["active_version"][
            "number"
        ]
        == 2
    )
    assert (
        approver.post(f"{url}/activate/", {"version": 1}, format="json").json()["active_version"][
            "number"
        ]
        == 1
    )
    assert approver.post(f"{url}/activate/", {"version": 9}, format="json").status_code == 404
    versions = approver.get(f"{url}/versions/").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    version = PolicyVersion.objects.get(policy_id=policy["id"], number=1)
    version.source = "changed"
    with pytest.raises(ValueError, match="immutable"):
        version.save()


def test_roles_and_global_policies(acme_analyst, approver):
    assert _create(acme_analyst).status_code == 403
    listed = approver.get("/api/v1/policies/").json()["results"]
    default = next(p for p in listed if p["name"] == DEFAULT_POLICY_NAME)
    assert default["scope"] == "global" and default["is_default"]
    refused = approver.post(
        f"/api/v1/policies/{default['id']}/versions/", {"source": ALLOW_ALL}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "global_policy"
    assert _create(approver).status_code == 201
    assert _create(approver).status_code == 409  # same name


def test_other_tenants_policy_is_invisible(approver, globex_admin):
    theirs = _create(globex_admin, name="theirs").json()
    assert approver.get(f"/api/v1/policies/{theirs['id']}/").status_code == 404
    assert (
        approver.post(
            "/api/v1/policy-assignments/",
            {"policy": theirs["id"], "mode": "enforce"},
            format="json",
        ).status_code
        == 404
    )


def test_assignment_conflicts_and_removal(acme, approver):
    app = ApplicationFactory(tenant=acme)
    first = _create(approver, name="a").json()
    second = _create(approver, name="b").json()
    body = {"policy": first["id"], "application": app.pk, "mode": "enforce"}
    created = approver.post("/api/v1/policy-assignments/", body, format="json")
    assert created.status_code == 201
    clash = approver.post(
        "/api/v1/policy-assignments/", {**body, "policy": second["id"]}, format="json"
    )
    assert clash.status_code == 409
    shadow = approver.post(
        "/api/v1/policy-assignments/",
        {**body, "policy": second["id"], "mode": "log_only"},
        format="json",
    )
    assert shadow.status_code == 201
    assert approver.delete(f"/api/v1/policy-assignments/{created.json()['id']}/").status_code == 204
    assert (
        decision_make(tenant=acme, application=app).policy_version.policy.name
        == DEFAULT_POLICY_NAME
    )


def test_simulation_reports_changed_outcomes_and_why(acme, approver, acme_analyst):
    app = ApplicationFactory(tenant=acme)
    secret = FindingFactory(tenant=acme, application=app, kind="secret")
    clean = ApplicationFactory(tenant=acme)
    blocked = decision_make(tenant=acme, application=app)
    allowed = decision_make(tenant=acme, application=clean)
    assert (blocked.outcome, allowed.outcome) == ("BLOCK", "ALLOW")
    default_id = blocked.policy_version.policy_id
    source, parameters = pack()
    secret_rule = 'contains grouped("FX-SECRET"'
    lenient = source.replace(f"deny {secret_rule}", f"warn {secret_rule}")
    response = acme_analyst.post(
        f"/api/v1/policies/{default_id}/simulate/",
        {"source": lenient, "parameters": parameters},
        format="json",
    )
    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["replayed"], report["changed"]) == (2, 1)
    assert report["transitions"] == {"BLOCK->ALLOW": 1, "ALLOW->ALLOW": 1}
    changed = next(r for r in report["results"] if r["changed"])
    assert changed["decision_id"] == blocked.pk
    assert [r["rule"] for r in changed["removed_reasons"]] == ["FX-SECRET"]
    assert [(r["level"], r["finding_ids"]) for r in changed["added_reasons"]] == [
        ("warn", [secret.pk])
    ]
    # A stored version replays too; `last` bounds the replay.
    same = acme_analyst.post(
        f"/api/v1/policies/{default_id}/simulate/", {"version": 1, "last": 1}, format="json"
    ).json()
    assert (same["replayed"], same["changed"]) == (1, 0)


def test_simulation_input_errors(acme_analyst):
    default_id = Policy.objects.get(is_default=True).pk
    url = f"/api/v1/policies/{default_id}/simulate/"
    both = acme_analyst.post(url, {"version": 1, "source": ALLOW_ALL}, format="json")
    assert both.status_code == 400
    broken = acme_analyst.post(url, {"source": HEADER + "deny[x] { x := 1 }"}, format="json")
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_policy"


def test_policy_changes_are_audited(acme, approver):
    policy = _create(approver).json()
    url = f"/api/v1/policies/{policy['id']}"
    approver.post(f"{url}/versions/", {"source": ALLOW_ALL, "activate": True}, format="json")
    approver.post(f"{url}/activate/", {"version": 1}, format="json")
    assigned = approver.post(
        "/api/v1/policy-assignments/", {"policy": policy["id"], "mode": "log_only"}, format="json"
    ).json()
    approver.delete(f"/api/v1/policy-assignments/{assigned['id']}/")
    events = list(
        AuditEvent.objects.filter(tenant_id=acme.pk, target_type__startswith="policies.")
        .order_by("seq")
        .values_list("action", "target_type", "before", "after")
    )
    assert [(a, t) for a, t, _, _ in events] == [
        ("policy.create", "policies.policy"),
        ("policy.version_add", "policies.policy"),
        ("policy.activate", "policies.policy"),
        ("policy.assign", "policies.policyassignment"),
        ("policy.unassign", "policies.policyassignment"),
    ]
    assert events[2][2:] == ({"active_version": 2}, {"active_version": 1})
    assert events[4][3] is None and events[4][2]["mode"] == "log_only"
