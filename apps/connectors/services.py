"""Writes for integrations and the outbox queue: configure, test, sync, replay, cancel.

What FixOps sends when findings change is in tickets.py, decisions and notifications in
announce.py. Nothing here calls a vendor except `integration_test` and `integration_sync`,
which answer what the vendor said.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.connectors import drain, outbox, registry, sync_answer, templates, tickets
from apps.connectors.inbound.receive import new_secret_for, vendor_issues_secret
from apps.connectors.models import (
    Integration,
    MessageStatus,
    OutboxMessage,
)
from apps.findings.models import Finding
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.deletion import delete_or_conflict
from fixops.platform.errors import Conflict, Invalid, UpstreamFailed
from fixops.platform.http import breaker
from fixops.platform.http.errors import OutboundError
from fixops.platform.http.ssrf import UnsafeURL, check_url

# How often a sync looks again at messages another worker is delivering.
SYNC_POLL_SECONDS = 0.1

INTEGRATION_FIELDS = (
    "kind",
    "name",
    "base_url",
    "credentials",
    "settings",
    "min_severity",
    "min_risk",
    "grouping",
    "templates",
    "enabled",
)

# --- Integrations ------------------------------------------------------------------------------


def integration_check_config(integration: Integration, credentials: dict) -> None:
    """Invalid (details per field) unless the kind's config, the templates and every URL
    (base_url, credential URLs such as a Slack webhook) pass."""
    errors = registry.validate_config(integration.kind, credentials, integration.settings)
    errors.update(templates.validate(integration.templates))
    base_url_used = integration.kind not in registry.KINDS or (
        registry.connector_class(integration.kind).base_url_used
    )
    if base_url_used and not integration.base_url:
        errors.setdefault("base_url", f"This field is required for {integration.kind}.")
    urls = [("base_url", integration.base_url)] * bool(base_url_used and integration.base_url) + [
        (f"credentials.{k}", v)
        for k, v in credentials.items()
        if isinstance(v, str) and k.endswith("url")
    ]
    for field, url in urls:
        try:
            check_url(url)
        except UnsafeURL as exc:
            errors.setdefault(field, str(exc))  # the kind's own complaint is more precise
    if errors:
        raise Invalid(
            "The integration configuration is not valid: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            code="invalid_integration",
            details=errors,
        )


def _facts(integration: Integration) -> dict:
    """What an audit row says about an integration: never its credentials."""
    return {
        "kind": integration.kind,
        "name": integration.name,
        "base_url": integration.base_url,
        "enabled": integration.enabled,
    }


def _audit(integration: Integration, actor: str, action: str, before, after) -> None:
    audit_record(
        tenant=integration.tenant,
        actor=actor,
        action=action,
        target_type="connectors.integration",
        target_id=integration.pk,
        before=before,
        after=after,
    )


def _save(
    integration: Integration, *, actor: str, action: str, before: dict | None, changed: list[str]
) -> Integration:
    try:
        with transaction.atomic():
            integration.save()
            after = {**_facts(integration), "fields": sorted(changed)}
            _audit(integration, actor, action, before, after)
    except IntegrityError:
        raise Conflict(
            f"An integration named {integration.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None
    return integration


def integration_create(
    *,
    tenant: Tenant,
    kind: str,
    name: str,
    base_url: str,
    credentials: dict,
    actor: str = "system",
    **fields: Any,
) -> Integration:
    """Configure a vendor endpoint (checked: kind's config, templates, SSRF); 409 on a name
    already used."""
    unknown = set(fields) - set(INTEGRATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown integration fields: {sorted(unknown)}")
    integration = Integration(tenant=tenant, kind=kind, name=name, base_url=base_url, **fields)
    integration_check_config(integration, credentials)
    # A secret FixOps generates (a signed webhook's) is returned once, with the new row.
    issued = registry.connector_class(kind).issue_credentials(credentials)
    credentials = {**credentials, **issued}
    integration.credentials = credentials
    # Shown once, by the create answer (read back from the row before it leaves the view).
    integration.webhook_secret = new_secret_for(kind)
    changed = ["kind", "name", "base_url", *fields] + (["credentials"] if credentials else [])
    saved = _save(
        integration, actor=actor, action="integration.create", before=None, changed=changed
    )
    saved.issued_credentials = issued
    return saved


def integration_update(
    *, integration: Integration, actor: str = "system", **fields: Any
) -> Integration:
    """Change the given fields; credentials are replaced only when given."""
    unknown = set(fields) - set(INTEGRATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown integration fields: {sorted(unknown)}")
    credentials = fields.pop("credentials", None)
    before = _facts(integration)
    changed = [name for name, value in fields.items() if getattr(integration, name) != value]
    if credentials is not None:
        changed.append("credentials")  # named, never shown
    for name, value in fields.items():
        setattr(integration, name, value)
    integration_check_config(
        integration, integration.credentials if credentials is None else credentials
    )
    if credentials is not None:
        integration.credentials = credentials
    return _save(
        integration, actor=actor, action="integration.update", before=before, changed=changed
    )


def integration_rotate_webhook_secret(*, integration: Integration, actor: str = "system") -> str:
    """Replace the integration's webhook secret; the new one, to be shown once. Deliveries
    signed with the old secret are refused from now on. 409 for a kind whose vendor issues
    the secret (Slack: change the signing_secret credential instead)."""
    if vendor_issues_secret(integration.kind):
        raise Conflict(
            f"{integration.get_kind_display()} issues its own signing secret: set the "
            "signing_secret credential instead.",
            code="vendor_issued_secret",
        )
    secret = new_secret_for(integration.kind)
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        locked.webhook_secret = secret
        locked.save(update_fields=["webhook_secret_token", "updated_at"])
        _audit(locked, actor, "integration.rotate_webhook_secret", None, {"name": locked.name})
    integration.webhook_secret_token = locked.webhook_secret_token
    return secret


def integration_delete(*, integration: Integration, actor: str = "system") -> None:
    """Delete an integration with its queue and links; 409 naming what still needs it."""
    pk, facts = integration.pk, _facts(integration)
    with transaction.atomic():
        delete_or_conflict(integration, label=f"integration {integration.name!r}")
        integration.pk = pk
        _audit(integration, actor, "integration.delete", facts, None)


def integration_breaker_reset(*, integration: Integration, actor: str = "system") -> None:
    """Close the integration's circuit breaker by hand (deliveries resume at once)."""
    with transaction.atomic():
        breaker.reset(Integration.objects.filter(pk=integration.pk))
        _audit(integration, actor, "integration.breaker_reset", None, {"name": integration.name})


def _connector(integration: Integration, timeout: tuple[float, float] | None = None):
    try:
        return registry.connector_for(
            integration.kind,
            base_url=integration.base_url,
            credentials=integration.credentials,
            settings=integration.settings,
            timeout=timeout,
        )
    except OutboundError as exc:
        raise Invalid(str(exc), code="invalid_integration") from None


def integration_test(*, integration: Integration, actor: str = "system") -> str:
    """Check the credentials against the vendor (cheap, read-only calls through the guarded
    outbound HTTP); what it said, or 502 with its message. Audited either way."""
    try:
        seconds = settings.FIXOPS_CONNECTION_TEST_SECONDS
        connector = _connector(integration, timeout=(min(5.0, seconds), seconds))
        answer = _scrub(connector.test_connection(), integration)
    except Invalid as exc:
        _audit_test(integration, actor, ok=False, message=exc.message, status=None)
        raise
    except OutboundError as exc:
        message = _scrub(f"{integration.get_kind_display()} answered: {exc}", integration)
        _audit_test(integration, actor, ok=False, message=message, status=exc.status)
        raise UpstreamFailed(
            message,
            code="vendor_error",
            details={"vendor_status": exc.status, "permanent": exc.permanent},
        ) from None
    _audit_test(integration, actor, ok=True, message=answer, status=None)
    return answer


def _scrub(message: str, integration: Integration) -> str:
    """`message` without the integration's credentials: a connection error may quote the URL
    it called, and a Slack webhook's path is its secret."""
    secrets = {f.name for f in registry.connector_class(integration.kind).fields if f.secret}
    for name, value in integration.credentials.items():
        if name not in secrets or not isinstance(value, str) or len(value) < 4:
            continue
        message = message.replace(value, "[secret]")
        path = urlsplit(value).path if value.startswith(("http://", "https://")) else ""
        if len(path) > 1:
            message = message.replace(path, "/[secret]")
    return message


def _audit_test(
    integration: Integration, actor: str, *, ok: bool, message: str, status: int | None
) -> None:
    # Its own transaction: a test changes nothing, but who probed which vendor, and what it
    # answered, is part of the integration's history.
    with transaction.atomic():
        _audit(
            integration,
            actor,
            "integration.test",
            None,
            {"ok": ok, "vendor_status": status, "message": message[:500]},
        )


def integration_sync(
    *, integration: Integration, budget_seconds: float | None = None, actor: str = "system"
) -> dict:
    """Enqueue everything not yet in sync for this integration, deliver its queue now
    (breaker or not), and answer what that means (`sync_answer.answer`).

    Messages another worker holds under a live lease (the drain triggered by a scan's or this
    sync's own commit claims them first) are waited for within the budget: their outcome is
    only recorded when the worker's whole batch ends, so counting them at once answered
    "pending" for tickets already at the vendor (issue 16)."""
    started = timezone.now()
    with transaction.atomic():
        queued = tickets.enqueue_missing(integration=integration)
        _audit(integration, actor, "integration.sync", None, {"queued": queued})
    budget = settings.FIXOPS_OUTBOX_SYNC_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    while True:
        drain.drain(
            integration_id=integration.pk,
            ignore_breaker=True,
            budget_seconds=max(deadline - time.monotonic(), 0.0),
        )
        if time.monotonic() >= deadline or not sync_answer.held_elsewhere(integration):
            break
        time.sleep(SYNC_POLL_SECONDS)
    return sync_answer.answer(integration, queued=queued, since=started)


# --- Operating the queue -----------------------------------------------------------------------


def message_replay(*, message: OutboxMessage, actor: str) -> OutboxMessage:
    """Send a dead message again, from a fresh attempt count."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status != MessageStatus.DEAD:
            raise Conflict(
                f"Only dead messages can be replayed; this one is {locked.status}.",
                code="invalid_state",
            )
        locked.status = MessageStatus.PENDING
        locked.attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.last_error = f"replayed by {actor}; before: {locked.last_error}"[:4000]
        locked.updated_at = timezone.now()
        locked.save(
            update_fields=["status", "attempts", "next_attempt_at", "last_error", "updated_at"]
        )
        _audit_message(locked, actor, "outbox.replay", {"status": MessageStatus.DEAD})
        outbox.trigger_drain_after_commit()
    return locked


def message_cancel(*, message: OutboxMessage, actor: str) -> OutboxMessage:
    """Give up on a message that has not been delivered (it becomes dead, replayable)."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status not in (MessageStatus.PENDING, MessageStatus.FAILED):
            raise Conflict(
                f"Only pending or failed messages can be cancelled; this one is {locked.status}.",
                code="invalid_state",
            )
        before = locked.status
        locked.status = MessageStatus.DEAD
        locked.last_error = f"cancelled by {actor}; before: {locked.last_error}"[:4000]
        locked.updated_at = timezone.now()
        locked.save(update_fields=["status", "last_error", "updated_at"])
        _audit_message(locked, actor, "outbox.cancel", {"status": before})
    return locked


def _audit_message(message: OutboxMessage, actor: str, action: str, before: dict) -> None:
    audit_record(
        tenant=message.tenant,
        actor=actor,
        action=action,
        target_type="connectors.outboxmessage",
        target_id=message.pk,
        before=before,
        after={"status": message.status, "integration": message.integration_id},
    )


# --- Tickets on request ------------------------------------------------------------------------


def findings_ticket_request(*, tenant: Tenant, finding_ids: list[int], actor: str) -> dict:
    """Open or sync the tickets of these findings of `tenant` through the outbox (delivered
    after commit by the drain); Conflict `no_ticketing` when the tenant has no enabled
    ticketing integration. Audited as `ticket.request`."""
    ids = sorted(set(finding_ids))
    if (
        not Integration.objects.for_tenant(tenant)
        .filter(enabled=True, kind__in=registry.TRACKER_KINDS)
        .exists()
    ):
        raise Conflict(
            "No ticketing integration is configured for this tenant (Jira, GitHub, GitLab, "
            "Azure DevOps or ServiceNow): add one under Integrations.",
            code="no_ticketing",
        )
    with transaction.atomic():
        mine = list(
            Finding.objects.for_tenant(tenant).filter(pk__in=ids).values_list("pk", flat=True)
        )
        stamp = timezone.now().strftime("%Y%m%d%H%M%S%f")
        result = tickets.findings_request(
            tenant_id=tenant.pk, finding_ids=mine, cause=f"request{stamp}"
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="ticket.request",
            target_type="findings.finding",
            target_id=str(mine[0]) if len(mine) == 1 else f"{len(mine)} findings",
            before=None,
            after={"finding_ids": mine, **result},
        )
    return {"findings": len(mine), **result}
