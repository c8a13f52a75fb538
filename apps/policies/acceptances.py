"""Governed risk acceptance: request → approve/reject by someone else → expiry (beat).

Separation of duties is a rule here, not a UI convention: the reviewer must hold the approver
role in the tenant and must not be the requester, whichever entry point (API, admin) calls.
Approval moves the covered open findings to risk_accepted; expiry or revocation moves the ones
no other acceptance still covers back to open; the findings writer pauses their SLA clock
while accepted and restarts or resumes it on the way back (apps/findings/sla.py). Findings
that appear later are matched at decision time (apps/policies/inputs.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Application, Finding, FindingStatus
from apps.findings.writer import FindingWriter
from apps.policies.inputs import path_matches, settings_for
from apps.policies.models import AcceptanceScope, AcceptanceStatus, RiskAcceptance
from apps.tenants.models import Membership, Tenant
from apps.tenants.roles import Role, role_at_least
from fixops.platform import events
from fixops.platform.audit import audit_record, audit_record_many
from fixops.platform.errors import Conflict, Forbidden, Invalid

logger = logging.getLogger(__name__)

_REQUIRED = {
    AcceptanceScope.FINDING: ("finding",),
    AcceptanceScope.VULNERABILITY_APP: ("application", "vuln_id"),
    AcceptanceScope.VULNERABILITY_ALL: ("vuln_id",),
    AcceptanceScope.RULE_PATH: ("rule_id", "path_pattern"),
}


def acceptance_request(
    *,
    tenant: Tenant,
    user,
    actor: str,
    scope: str,
    justification: str,
    expires_at: datetime,
    finding: Finding | None = None,
    application: Application | None = None,
    vuln_id: str = "",
    rule_id: str = "",
    path_pattern: str = "",
    now: datetime | None = None,
) -> RiskAcceptance:
    now = now or timezone.now()
    values = {
        "finding": finding,
        "application": application,
        "vuln_id": vuln_id.strip(),
        "rule_id": rule_id.strip(),
        "path_pattern": path_pattern.strip(),
    }
    missing = [name for name in _REQUIRED[scope] if not values[name]]
    if missing:
        raise Invalid(
            f"A {scope} acceptance needs: {', '.join(missing)}.",
            code="invalid_scope",
            details={"missing": missing},
        )
    if not justification.strip():
        raise Invalid("A justification is required.", code="justification_required")
    limit = settings_for(tenant).max_acceptance_days
    if expires_at <= now:
        raise Invalid("expires_at must be in the future.", code="invalid_expiry")
    if expires_at > now + timedelta(days=limit):
        raise Invalid(
            f"expires_at may be at most {limit} days away (tenant policy).",
            code="expiry_too_far",
            details={"max_days": limit},
        )
    if finding is not None:
        values["application"] = finding.application
    if scope == AcceptanceScope.VULNERABILITY_ALL:
        values["application"] = None
    with transaction.atomic():
        acceptance = RiskAcceptance.objects.create(
            tenant=tenant,
            scope=scope,
            justification=justification.strip(),
            expires_at=expires_at,
            requested_by=user,
            requested_label=actor[:150],
            **values,
        )
        _audit(acceptance, actor, "acceptance.request", None)
    logger.info("acceptance %s requested by %s", acceptance.pk, actor)
    return acceptance


def _check_reviewer(acceptance: RiskAcceptance, user) -> None:
    if user is None:
        raise Forbidden(
            "Reviewing an acceptance needs a person; API tokens cannot approve.",
            code="reviewer_required",
        )
    membership = Membership.objects.filter(tenant_id=acceptance.tenant_id, user=user).first()
    if not user.is_superuser and (
        membership is None or not role_at_least(membership.role, Role.APPROVER)
    ):
        raise Forbidden(
            "Only approvers may review acceptances.",
            code="forbidden",
            details={"required": {"role": Role.APPROVER.value}},
        )
    if acceptance.requested_by_id == user.pk:
        raise Forbidden(
            "Separation of duties: the requester cannot review their own acceptance.",
            code="separation_of_duties",
        )


def _locked(acceptance: RiskAcceptance, expected: str) -> RiskAcceptance:
    locked = RiskAcceptance.objects.select_for_update().get(pk=acceptance.pk)
    if locked.status != expected:
        raise Conflict(
            f"The acceptance is {locked.status}, not {expected}.",
            code="invalid_state",
        )
    return locked


def acceptance_approve(
    *, acceptance: RiskAcceptance, user, actor: str, note: str = "", now=None
) -> RiskAcceptance:
    now = now or timezone.now()
    _check_reviewer(acceptance, user)
    with transaction.atomic():
        locked = _locked(acceptance, AcceptanceStatus.REQUESTED)
        if locked.expires_at <= now:
            raise Invalid("The acceptance expired before review.", code="invalid_expiry")
        locked.status = AcceptanceStatus.APPROVED
        _reviewed(locked, user, actor, note, now)
        _audit(locked, actor, "acceptance.approve", AcceptanceStatus.REQUESTED)
        moved = _move(
            covered(locked).filter(status__in=ACTIVE),
            FindingStatus.RISK_ACCEPTED,
            actor=actor,
            reason=f"risk acceptance {locked.pk} approved",
            now=now,
        )
    logger.info("acceptance %s approved by %s: %s findings accepted", locked.pk, actor, moved)
    return locked


def acceptance_reject(
    *, acceptance: RiskAcceptance, user, actor: str, note: str = "", now=None
) -> RiskAcceptance:
    if not note.strip():
        raise Invalid("Say why the acceptance is rejected.", code="note_required")
    _check_reviewer(acceptance, user)
    with transaction.atomic():
        locked = _locked(acceptance, AcceptanceStatus.REQUESTED)
        locked.status = AcceptanceStatus.REJECTED
        _reviewed(locked, user, actor, note, now or timezone.now())
        _audit(locked, actor, "acceptance.reject", AcceptanceStatus.REQUESTED)
    return locked


def acceptance_revoke(
    *, acceptance: RiskAcceptance, user, actor: str, note: str = "", now=None
) -> RiskAcceptance:
    """End an approved acceptance early (an approver's call, requester included)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked(acceptance, AcceptanceStatus.APPROVED)
        locked.status = AcceptanceStatus.REVOKED
        locked.closed_at = now
        locked.review_note = (locked.review_note + f"\nrevoked by {actor}: {note}").strip()
        locked.save(update_fields=["status", "closed_at", "review_note"])
        _audit(locked, actor, "acceptance.revoke", AcceptanceStatus.APPROVED)
        _release(locked, actor, f"risk acceptance {locked.pk} revoked", now)
    return locked


def acceptances_expire(*, now: datetime | None = None) -> int:
    """Expire every approved acceptance past its date (beat); returns how many."""
    now = now or timezone.now()
    due = list(
        RiskAcceptance.objects.filter(status=AcceptanceStatus.APPROVED, expires_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    expired = 0
    for pk in due:
        with transaction.atomic():
            locked = RiskAcceptance.objects.select_for_update(skip_locked=True).filter(
                pk=pk, status=AcceptanceStatus.APPROVED
            )
            acceptance = locked.first()
            if acceptance is None:
                continue
            acceptance.status = AcceptanceStatus.EXPIRED
            acceptance.closed_at = now
            acceptance.save(update_fields=["status", "closed_at"])
            _audit(acceptance, "system:expiry", "acceptance.expire", AcceptanceStatus.APPROVED)
            reopened = _release(acceptance, "system:expiry", f"risk acceptance {pk} expired", now)
            _notify_expired(acceptance, reopened)
            expired += 1
    return expired


# The platform event an expiry emits; apps/pipeline tells the tenant's chat channels.
ACCEPTANCE_EXPIRED = "acceptance.expired"


def _notify_expired(acceptance: RiskAcceptance, reopened: int) -> None:
    """Record the expiry notice in the same transaction; it is sent after commit."""
    target = acceptance.vuln_id or acceptance.rule_id or f"finding {acceptance.finding_id}"
    events.emit(
        topic=ACCEPTANCE_EXPIRED,
        tenant_id=acceptance.tenant_id,
        payload={
            "acceptance_id": acceptance.pk,
            "title": f"Risk acceptance {acceptance.pk} ({target}) expired",
            "body": (
                f"The {acceptance.get_scope_display().lower()} acceptance requested by "
                f"{acceptance.requested_label} expired; {reopened} finding(s) reopened.\n"
                f"Justification was: {acceptance.justification}"
            ),
            "severity": "medium",
            "reference": f"fixops-acceptance-{acceptance.pk}",
        },
    )


def _audit(acceptance: RiskAcceptance, actor: str, action: str, before_status: str | None):
    audit_record(
        tenant=acceptance.tenant,
        actor=actor,
        action=action,
        target_type="policies.riskacceptance",
        target_id=acceptance.pk,
        before=None if before_status is None else {"status": before_status},
        after={
            "status": acceptance.status,
            "scope": acceptance.scope,
            "finding": acceptance.finding_id,
            "application": acceptance.application_id,
            "vuln_id": acceptance.vuln_id,
            "rule_id": acceptance.rule_id,
            "path_pattern": acceptance.path_pattern,
            "expires_at": acceptance.expires_at.isoformat(),
            "note": acceptance.review_note,
        },
    )


def covered(acceptance: RiskAcceptance) -> QuerySet[Finding]:
    """The findings an acceptance covers today (path globs are checked in Python)."""
    findings = Finding.objects.for_tenant(acceptance.tenant)
    if acceptance.scope == AcceptanceScope.FINDING:
        return findings.filter(pk=acceptance.finding_id)
    if acceptance.application_id:
        findings = findings.filter(application_id=acceptance.application_id)
    if acceptance.scope in (AcceptanceScope.VULNERABILITY_APP, AcceptanceScope.VULNERABILITY_ALL):
        vuln = acceptance.vuln_id
        if connection.vendor == "postgresql":
            return findings.filter(Q(vuln_id__iexact=vuln) | Q(aliases__contains=[vuln]))
        rows = findings.values_list("pk", "vuln_id", "aliases")  # SQLite: no JSON containment
        wanted = vuln.upper()
        ids = [pk for pk, v, a in rows if wanted in {x.upper() for x in [v, *(a or ())]}]
        return Finding.objects.filter(pk__in=ids)
    candidates = findings.filter(rule_id=acceptance.rule_id).values_list("pk", "path")
    ids = [pk for pk, path in candidates if path_matches(path, acceptance.path_pattern)]
    return Finding.objects.filter(pk__in=ids)


def _release(acceptance: RiskAcceptance, actor: str, reason: str, now: datetime) -> int:
    """Reopen the accepted findings of `acceptance` that no other live acceptance covers."""
    others = RiskAcceptance.objects.for_tenant(acceptance.tenant).filter(
        status=AcceptanceStatus.APPROVED, expires_at__gt=now
    )
    still = set()
    for other in others.exclude(pk=acceptance.pk):
        still.update(covered(other).values_list("pk", flat=True))
    findings = covered(acceptance).filter(status=FindingStatus.RISK_ACCEPTED).exclude(pk__in=still)
    return _move(findings, FindingStatus.OPEN, actor=actor, reason=reason, now=now)


def _move(
    findings: QuerySet[Finding],
    to_status: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> int:
    """Bulk status change through the findings writer (a few queries, any size); the tickets
    follow after commit: accepted closes them, reopened opens them again."""
    rows = list(findings.select_for_update().values_list("pk", "tenant_id", "status"))
    if not rows:
        return 0
    tenant_id = rows[0][1]
    # "risk-acceptance-5-approved": once per acceptance step, for idempotent ticket updates.
    # Audited per finding below (a person's approval), not as the writer's batch row.
    writer = FindingWriter(cause=reason.replace(" ", "-"), actor=actor, now=now, audit=False)
    writer.set_status(
        [(pk, previous) for pk, _, previous in rows],
        to_status,
        reason=reason,
        tenant_id=tenant_id,
        updated_at=now,
    )
    audit_record_many(
        tenant=Tenant(pk=tenant_id),  # an id is all the chain needs
        actor=actor[:150],
        action="finding.status",
        target_type="findings.finding",
        changes=[(pk, {"status": previous}, {"status": to_status}) for pk, _, previous in rows],
    )
    writer.finish(comment=f"FixOps: {reason}")
    return len(rows)


def _reviewed(acceptance: RiskAcceptance, user, actor: str, note: str, now: datetime) -> None:
    acceptance.reviewed_by = user
    acceptance.reviewed_label = actor[:150]
    acceptance.reviewed_at = now
    acceptance.review_note = note.strip()
    acceptance.save(
        update_fields=["status", "reviewed_by", "reviewed_label", "reviewed_at", "review_note"]
    )
