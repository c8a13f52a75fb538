"""Policy lifecycle: create, version (validated on save), activate/roll back, assign; and the
decision record the gate writes."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.findings.models import Application, Scan
from apps.policies import engine
from apps.policies.digests import document_digest, policy_digest
from apps.policies.evaluation import Verdict
from apps.policies.models import AssignmentMode, Decision, Policy, PolicyAssignment, PolicyVersion
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Invalid, NotFound

logger = logging.getLogger(__name__)

PACKS = Path(__file__).resolve().parent / "packs"
DEFAULT_POLICY_NAME = "FixOps default"


def pack(name: str = "default") -> tuple[str, dict]:
    """The Rego source and parameters of a shipped policy pack."""
    source = (PACKS / f"{name}.rego").read_text()
    parameters = json.loads((PACKS / f"{name}.json").read_text())
    return source, parameters


def policy_validate(*, source: str, parameters: dict | None = None) -> None:
    """Invalid naming the line when the source does not compile or cannot decide."""
    if not isinstance(parameters, dict | None):
        raise Invalid("parameters must be a JSON object", code="invalid_policy")
    try:
        engine.validate(source, parameters or {})
    except engine.EngineError as exc:
        raise Invalid(
            f"The policy is not valid: {exc.message}",
            code="too_deep" if isinstance(exc, engine.TooDeepSource) else "invalid_policy",
            details=exc.as_dict(),
        ) from None


def policy_create(
    *,
    tenant: Tenant | None,
    name: str,
    source: str,
    parameters: dict | None = None,
    description: str = "",
    actor: str = "",
    note: str = "",
) -> Policy:
    """A policy with its first version, active. `tenant=None` makes a global policy."""
    policy_validate(source=source, parameters=parameters)
    with transaction.atomic():
        try:
            policy = Policy.objects.create(tenant=tenant, name=name, description=description)
        except IntegrityError:
            raise Conflict(f"A policy named {name!r} already exists.", code="duplicate") from None
        version = _add_version(policy, source, parameters or {}, actor, note or "created")
        _activate(policy, version)
        _audit(policy, actor, "policy.create", None, {"name": name, "version": 1})
    return policy


def policy_version_add(
    *,
    policy: Policy,
    source: str,
    parameters: dict | None = None,
    actor: str = "",
    note: str = "",
    activate: bool = False,
) -> PolicyVersion:
    """A new immutable version; the active one changes only when `activate` says so."""
    policy_validate(source=source, parameters=parameters)
    with transaction.atomic():
        locked = Policy.objects.select_for_update().get(pk=policy.pk)
        before = {"active_version": _active_number(locked)}
        version = _add_version(locked, source, parameters or {}, actor, note)
        if activate:
            _activate(locked, version)
        after = {"version": version.number, "digest": version.digest, "active": activate}
        _audit(locked, actor, "policy.version_add", before, after)
    return version


def policy_activate(*, policy: Policy, number: int, actor: str = "") -> Policy:
    """Make version `number` the active one: activation and rollback are the same act."""
    version = PolicyVersion.objects.filter(policy=policy, number=number).first()
    if version is None:
        raise NotFound(f"Policy {policy.name!r} has no version {number}.", code="not_found")
    with transaction.atomic():
        locked = Policy.objects.select_for_update().get(pk=policy.pk)
        before = {"active_version": _active_number(locked)}
        _activate(locked, version)
        _audit(locked, actor, "policy.activate", before, {"active_version": number})
    logger.info("policy %s: version %s activated by %s", policy.pk, number, actor)
    return locked


def policy_update(*, policy: Policy, actor: str = "", **fields) -> Policy:
    """Rename or re-describe a policy (its versions are immutable)."""
    before = {"name": policy.name, "description": policy.description}
    for name in ("name", "description"):
        if name in fields:
            setattr(policy, name, fields[name])
    policy.updated_at = timezone.now()
    try:
        with transaction.atomic():
            policy.save(update_fields=["name", "description", "updated_at"])
            after = {"name": policy.name, "description": policy.description}
            _audit(policy, actor, "policy.update", before, after)
    except IntegrityError:
        raise Conflict(
            f"A policy named {policy.name!r} already exists.", code="duplicate"
        ) from None
    return policy


def _active_number(policy: Policy) -> int | None:
    return policy.active_version.number if policy.active_version_id else None


def _audit(row: Policy | PolicyAssignment, actor: str, action: str, before, after) -> None:
    """Audit a policy or assignment change (target type from the row: "policies.policy")."""
    audit_record(
        tenant=row.tenant,
        actor=actor or "system",
        action=action,
        target_type=row._meta.label_lower,
        target_id=row.pk,
        before=before,
        after=after,
    )


def _add_version(policy: Policy, source: str, parameters: dict, actor: str, note: str):
    number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    return PolicyVersion.objects.create(
        policy=policy,
        number=number,
        source=source,
        parameters=parameters,
        digest=policy_digest(source, parameters),
        created_by=actor[:150],
        note=note[:500],
    )


def _activate(policy: Policy, version: PolicyVersion) -> None:
    policy.active_version = version
    policy.updated_at = timezone.now()
    policy.save(update_fields=["active_version", "updated_at"])


def policy_assign(
    *,
    tenant: Tenant,
    policy: Policy,
    application: Application | None,
    mode: str,
    actor: str = "",
) -> PolicyAssignment:
    if policy.tenant_id not in (None, tenant.pk):
        raise NotFound("No such policy.", code="not_found")
    if policy.active_version_id is None:
        raise Invalid("The policy has no active version.", code="no_active_version")
    try:
        with transaction.atomic():
            assignment = PolicyAssignment.objects.create(
                tenant=tenant,
                policy=policy,
                application=application,
                mode=mode,
                created_by=actor[:150],
            )
            _audit(assignment, actor, "policy.assign", None, _assignment_facts(assignment))
            return assignment
    except IntegrityError:
        where = f"application {application.name!r}" if application else "the tenant"
        raise Conflict(
            f"{where} already has an enforcing policy, or this policy is already assigned; "
            "remove that assignment first",
            code="duplicate",
        ) from None


def policy_unassign(*, assignment: PolicyAssignment, actor: str = "") -> None:
    with transaction.atomic():
        facts = _assignment_facts(assignment)
        pk = assignment.pk
        assignment.delete()
        assignment.pk = pk
        _audit(assignment, actor, "policy.unassign", facts, None)


def _assignment_facts(assignment: PolicyAssignment) -> dict:
    return {
        "policy": assignment.policy_id,
        "application": assignment.application_id,
        "mode": assignment.mode,
    }


def default_policy_ensure() -> Policy:
    """The global default policy, created from the shipped pack when missing. An existing
    default is never changed behind its owners' backs: new pack releases are added as versions
    with `manage.py load_policy_pack` and activated deliberately."""
    existing = (
        Policy.objects.select_related("active_version__policy").filter(is_default=True).first()
    )
    if existing is not None:
        return existing
    source, parameters = pack()
    with transaction.atomic():
        policy = policy_create(
            tenant=None,
            name=DEFAULT_POLICY_NAME,
            source=source,
            parameters=parameters,
            description="The shipped default pack (docs/policies.md).",
            actor="system",
            note="shipped default pack",
        )
        policy.is_default = True
        policy.save(update_fields=["is_default"])
    return policy


def policies_for(*, tenant: Tenant, application: Application):
    """(enforcing PolicyVersion, [log-only PolicyVersions]) for an application: its own
    enforcing assignment, else the tenant's, else the global default."""
    assignments = list(
        PolicyAssignment.objects.for_tenant(tenant)
        .filter(Q(application__isnull=True) | Q(application=application))
        .select_related("policy__active_version__policy")
    )
    enforcing = sorted(
        (a for a in assignments if a.mode == AssignmentMode.ENFORCE),
        key=lambda a: a.application_id is None,  # the application's own first
    )
    if enforcing:
        version = enforcing[0].policy.active_version
    else:
        version = default_policy_ensure().active_version
    shadows = [
        a.policy.active_version
        for a in assignments
        if a.mode == AssignmentMode.LOG_ONLY and a.policy.active_version_id
    ]
    return version, shadows


def decision_create(
    *,
    tenant: Tenant,
    application: Application,
    version: PolicyVersion,
    verdict: Verdict,
    document: dict,
    confidence: float,
    confidence_detail: dict,
    shadow: list[dict],
    scans: list[Scan],
    engine_name: str,
    commit: str = "",
    branch: str = "",
    pipeline_run: str = "",
    requested_by: str = "",
    created_at: datetime,
    timings_ms: dict[str, float],
) -> Decision:
    """Write the immutable decision row and link its scans (inside the gate's transaction)."""
    summary = document["summary"]
    counts = {
        "open": summary["open"],
        "accepted": summary["accepted"],
        "by_severity": summary["by_severity"],
        "in_input": len(document["findings"]),
        "omitted": document["omitted"]["count"],
        **{
            level: sum(1 for r in verdict.reasons if r["level"] == level) for level in engine.LEVELS
        },
    }
    with transaction.atomic():
        decision = Decision.objects.create(
            tenant=tenant,
            application=application,
            outcome=verdict.outcome,
            confidence=confidence,
            confidence_detail=confidence_detail,
            reasons=verdict.reasons,
            counts=counts,
            commit=commit,
            branch=branch,
            pipeline_run=pipeline_run,
            policy_version=version,
            engine=engine_name,
            input=document,
            input_digest=document_digest(document),
            result=verdict.result,
            error=verdict.error,
            shadow=shadow,
            requested_by=requested_by[:150],
            created_at=created_at,
            timings_ms=timings_ms,
        )
        if scans:
            decision.scans.set(scans)
        audit_record(
            tenant=tenant,
            actor=requested_by or "system",
            action="decision.create",
            target_type="policies.decision",
            target_id=decision.pk,
            before=None,
            after={
                "application": application.pk,
                "outcome": decision.outcome,
                "policy_version": version.pk if version is not None else None,
                "shadow": shadow,
                "commit": commit,
                "branch": branch,
                "scans": [scan.pk for scan in scans or ()],
            },
        )
    return decision
