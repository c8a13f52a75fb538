"""Writes for notification rules: create, change, delete (each audited).

A rule routes event kinds (`NotificationEvent`) at or above a severity to one integration of
the same tenant; notifications.py applies them.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.connectors.models import Integration, NotificationEvent, NotificationRule
from apps.findings.models import Severity
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Invalid

RULE_FIELDS = ("name", "events", "min_severity", "integration", "enabled")


def _facts(rule: NotificationRule) -> dict:
    return {
        "name": rule.name,
        "events": list(rule.events or []),
        "min_severity": rule.min_severity,
        "integration": rule.integration_id,
        "enabled": rule.enabled,
    }


def _check(rule: NotificationRule) -> None:
    """Invalid (details per field) unless events, severity and integration make sense."""
    errors: dict[str, str] = {}
    events = rule.events
    if not isinstance(events, list) or not events:
        errors["events"] = "give at least one event kind"
    else:
        unknown = sorted({str(e) for e in events} - set(NotificationEvent.values))
        if unknown:
            errors["events"] = (
                f"unknown event kind(s) {', '.join(unknown)}; "
                f"known: {', '.join(NotificationEvent.values)}"
            )
    if rule.min_severity not in Severity.values:
        errors["min_severity"] = f"must be one of {', '.join(Severity.values)}"
    integration = rule.integration if rule.integration_id else None
    if integration is None or integration.tenant_id != rule.tenant_id:
        errors["integration"] = "no such integration"
    if errors:
        raise Invalid(
            "The notification rule is not valid: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            code="invalid_notification_rule",
            details=errors,
        )


def _save(rule: NotificationRule, *, actor: str, action: str, before: dict | None) -> None:
    _check(rule)
    rule.events = sorted(set(rule.events), key=NotificationEvent.values.index)
    try:
        with transaction.atomic():
            rule.save()
            audit_record(
                tenant=rule.tenant,
                actor=actor,
                action=action,
                target_type="connectors.notificationrule",
                target_id=rule.pk,
                before=before,
                after=_facts(rule),
            )
    except IntegrityError:
        raise Conflict(
            f"A notification rule named {rule.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None


def notification_rule_create(
    *,
    tenant: Tenant,
    name: str,
    events: list[str],
    integration: Integration,
    min_severity: str = "info",
    enabled: bool = True,
    actor: str = "system",
) -> NotificationRule:
    """Route `events` at or above `min_severity` to `integration` (of the same tenant)."""
    rule = NotificationRule(
        tenant=tenant,
        name=name,
        events=list(events),
        integration=integration,
        min_severity=min_severity,
        enabled=enabled,
    )
    _save(rule, actor=actor, action="notification_rule.create", before=None)
    return rule


def notification_rule_update(
    *, rule: NotificationRule, actor: str = "system", **fields: Any
) -> NotificationRule:
    """Change the given fields of a rule."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown notification rule fields: {sorted(unknown)}")
    before = _facts(rule)
    for name, value in fields.items():
        setattr(rule, name, list(value) if name == "events" else value)
    _save(rule, actor=actor, action="notification_rule.update", before=before)
    return rule


def notification_rule_delete(*, rule: NotificationRule, actor: str = "system") -> None:
    """Delete a rule (messages already queued are still delivered)."""
    pk, before = rule.pk, _facts(rule)
    with transaction.atomic():
        rule.delete()
        audit_record(
            tenant=rule.tenant,
            actor=actor,
            action="notification_rule.delete",
            target_type="connectors.notificationrule",
            target_id=pk,
            before=before,
            after=None,
        )
