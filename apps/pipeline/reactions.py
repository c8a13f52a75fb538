"""What the pipeline does when lower layers report a change (platform events, after commit).

Subscribed in PipelineConfig.ready(). Handlers are idempotent: the outbox keys its messages by
the event's cause, so an event handled twice (a crash after the outbox insert, the sweeper)
queues nothing new.
"""

from __future__ import annotations

from apps.connectors.announce import notify
from apps.connectors.inbound.apply import ACCEPTANCE_WANTED
from apps.connectors.tickets import findings_changed, findings_comment
from apps.findings.sla import SLA_BREACHED
from apps.findings.writer import TOPIC as FINDING_CHANGED
from apps.pipeline.inbound import acceptance_from_ticket
from apps.policies.acceptances import ACCEPTANCE_EXPIRED
from apps.tenants.models import Tenant
from fixops.platform import events
from fixops.platform.models import Event


def finding_changed(event: Event) -> None:
    """Open tickets for new findings, reopen or close the tickets of findings whose status
    moved into or out of the active statuses."""
    payload = event.payload
    changes = {pk: "open" for pk in (*payload["reopened"], *payload["activated"])}
    changes.update({pk: "closed" for pk in payload["closed"]})
    findings_changed(
        tenant_id=event.tenant_id,
        cause=payload["cause"] or f"change{event.pk}",
        opened=payload["opened"],
        changes=changes,
        comment=payload["comment"],
    )


def acceptance_expired(event: Event) -> None:
    """Tell the tenant's chat channels that a risk acceptance expired."""
    notice = event.payload
    notify(
        Tenant.objects.get(pk=event.tenant_id),
        event="acceptance_expired",
        title=notice["title"],
        body=notice["body"],
        severity=notice["severity"],
        reference=notice["reference"],
    )


def finding_sla_breached(event: Event) -> None:
    """Tell the tenant's chat channels which findings breached their SLA, and comment on the
    tickets those findings already have."""
    notice = event.payload
    notify(
        Tenant.objects.get(pk=event.tenant_id),
        event="sla_breached",
        title=notice["title"],
        body=notice["body"],
        severity=notice["severity"],
        reference=f"fixops-sla-breach-{event.pk}",
    )
    findings_comment(
        tenant_id=event.tenant_id,
        finding_ids=notice["finding_ids"],
        lines={
            int(pk): f"FixOps: SLA breached: finding {pk} was due {due}"
            for pk, due in notice["due"].items()
        },
        cause=f"sla-breach-{event.pk}",
    )


def acceptance_wanted(event: Event) -> None:
    """A ticket was closed as won't-do (or a chat button asked): request a risk acceptance of
    the finding for an approver, once, while the finding still needs work."""
    acceptance_from_ticket(tenant_id=event.tenant_id, payload=event.payload)


def subscribe() -> None:
    events.subscribe(FINDING_CHANGED, finding_changed)
    events.subscribe(ACCEPTANCE_EXPIRED, acceptance_expired)
    events.subscribe(SLA_BREACHED, finding_sla_breached)
    events.subscribe(ACCEPTANCE_WANTED, acceptance_wanted)
