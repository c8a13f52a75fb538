"""What the pipeline does when lower layers report a change (platform events, after commit).

Subscribed in PipelineConfig.ready(). Handlers are idempotent: the outbox keys its messages by
the event's cause, so an event handled twice (a crash after the outbox insert, the sweeper)
queues nothing new.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.dateparse import parse_datetime

from apps.connectors.announce import notify
from apps.connectors.inbound.apply import ACCEPTANCE_WANTED
from apps.connectors.tickets import findings_changed, findings_comment
from apps.findings.models import Finding
from apps.findings.services import APPLICATION_CONTEXT_CHANGED
from apps.findings.sla import SLA_BREACHED
from apps.findings.writer import TOPIC as FINDING_CHANGED
from apps.intel.notices import INTEL_RECORDED, intel_notices
from apps.intel.scoring import risk_refresh
from apps.pipeline.inbound import acceptance_from_ticket
from apps.pipeline.tasks import risk_refresh_task
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
    """Tell the channels of the tenant's notification rules that a risk acceptance expired."""
    notice = event.payload
    notify(
        Tenant.objects.get(pk=event.tenant_id),
        event="acceptance_expired",
        title=notice["title"],
        body=notice["body"],
        severity=notice["severity"],
        reference=notice["reference"],
        cause=f"acceptance-{notice.get('acceptance_id') or event.pk}",
        data={"acceptance_id": notice.get("acceptance_id")},
    )


def finding_sla_breached(event: Event) -> None:
    """Tell the channels of the tenant's notification rules which findings breached their
    SLA, and comment on the tickets those findings already have."""
    notice = event.payload
    notify(
        Tenant.objects.get(pk=event.tenant_id),
        event="sla_breached",
        title=notice["title"],
        body=notice["body"],
        severity=notice["severity"],
        reference=f"fixops-sla-breach-{event.pk}",
        cause=f"sla-breach-{event.pk}",
        data={"finding_ids": notice["finding_ids"], "due": notice["due"]},
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


def intel_recorded(event: Event) -> None:
    """Tell the channels of the tenant's notification rules which CVEs of open findings just
    entered KEV or crossed the EPSS threshold (one notice per CVE)."""
    kind = event.payload["kind"]
    created_at = parse_datetime(event.payload["created_at"])
    tenant = Tenant.objects.get(pk=event.tenant_id)
    for notice in intel_notices(tenant_id=tenant.pk, kind=kind, created_at=created_at):
        notify(
            tenant,
            event=kind,
            title=notice["title"],
            body=notice["body"],
            severity=notice["severity"],
            reference=f"fixops-intel-{kind}-{notice['vuln_id']}"[:200],
            cause=f"intel-{event.pk}-{notice['vuln_id']}",
            data={
                "vuln_id": notice["vuln_id"],
                "finding_ids": notice["finding_ids"],
                "details": notice["details"],
            },
        )


def acceptance_wanted(event: Event) -> None:
    """A ticket was closed as won't-do (or a chat button asked): request a risk acceptance of
    the finding for an approver, once, while the finding still needs work."""
    acceptance_from_ticket(tenant_id=event.tenant_id, payload=event.payload)


def application_context_changed(event: Event) -> None:
    """Re-score an application's findings when what their risk weighs of it changed (its
    exposure, criticality, data): inline for the sizes an import scores inline, by a worker
    for larger ones."""
    application_id = event.payload["application_id"]
    findings = Finding.objects.filter(application_id=application_id)
    if findings[: settings.FIXOPS_RISK_INLINE_MAX + 1].count() <= settings.FIXOPS_RISK_INLINE_MAX:
        risk_refresh(application_id=application_id)
    else:
        risk_refresh_task.delay(application_id=application_id)


def subscribe() -> None:
    events.subscribe(APPLICATION_CONTEXT_CHANGED, application_context_changed)
    events.subscribe(FINDING_CHANGED, finding_changed)
    events.subscribe(ACCEPTANCE_EXPIRED, acceptance_expired)
    events.subscribe(SLA_BREACHED, finding_sla_breached)
    events.subscribe(INTEL_RECORDED, intel_recorded)
    events.subscribe(ACCEPTANCE_WANTED, acceptance_wanted)
