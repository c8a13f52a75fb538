"""Periodic tasks declared in code; `manage.py sync_schedules` writes them to django-celery-beat.

Each entry: a unique name, the task's registered name, and either `every` (seconds) or
`crontab` (minute hour day_of_month month_of_year day_of_week).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    description: str
    every: int | None = None  # seconds
    crontab: str | None = None  # "m h dom mon dow"
    kwargs: dict = field(default_factory=dict)


def schedules() -> list[Schedule]:
    """The schedules in force (read at call time, so settings overrides apply)."""
    return [
        Schedule(
            name="platform heartbeat",
            task="fixops.heartbeat",
            # Every FIXOPS_HEARTBEAT_SECONDS (30 s by default): /readyz shows the last beat.
            every=settings.FIXOPS_HEARTBEAT_SECONDS,
            description="Proves beat, broker and worker work end to end; shown on /readyz.",
        ),
        Schedule(
            name="refresh EPSS",
            task="fixops.intel.refresh_feed",
            # Every day at 05:15 UTC: FIRST publishes one file a day; otherwise 304.
            crontab="15 5 * * *",
            kwargs={"name": "epss"},
            description="Loads the FIRST EPSS daily file (304 when unchanged); see /readyz.",
        ),
        Schedule(
            name="refresh KEV",
            task="fixops.intel.refresh_feed",
            # Every day at 05:30 UTC; a day without catalog changes costs one 304.
            crontab="30 5 * * *",
            kwargs={"name": "kev"},
            description="Loads the CISA KEV catalog (304 when unchanged); see /readyz.",
        ),
        Schedule(
            name="refresh OSV",
            task="fixops.intel.refresh_feed",
            # Every day at 05:45 UTC, after EPSS and KEV so new findings get today's intel.
            crontab="45 5 * * *",
            kwargs={"name": "osv"},
            description="Loads the OSV advisories export and re-matches components.",
        ),
        Schedule(
            name="expire risk acceptances",
            task="fixops.policies.expire_acceptances",
            # Every 15 minutes: an acceptance ends within a quarter hour of its expiry.
            every=900,
            description="Expires approved risk acceptances; their findings reopen.",
        ),
        Schedule(
            name="announce SLA breaches",
            task="fixops.findings.sla_breaches",
            # Every 15 minutes: a breach reaches chat (and the ticket) within a quarter hour of
            # its due_at; each (finding, due_at) is announced once.
            every=900,
            description="Announces open findings past their SLA due_at (chat, ticket comment).",
        ),
        Schedule(
            name="refresh analytics",
            task="fixops.workspace.analytics_refresh",
            # Every 5 minutes: the dashboard and the analytics API show numbers at most this
            # old (their as_of); a refresh reads each tenant's findings once.
            every=300,
            description="Recomputes each tenant's dashboard and analytics API numbers.",
        ),
        Schedule(
            name="retire stale scan streams",
            task="fixops.findings.retire_stale_streams",
            # Every day at 04:30 UTC, before the feeds refresh: a stream (application, tool,
            # branch, target) silent for FIXOPS_STREAM_STALE_DAYS no longer keeps findings open.
            crontab="30 4 * * *",
            description="Retracts the occurrences of scan streams silent for "
            "FIXOPS_STREAM_STALE_DAYS days; findings no other stream reports close.",
        ),
        Schedule(
            name="checkpoint audit chains",
            task="fixops.evidence.audit_checkpoint",
            # Every 10 minutes: a truncated audit chain is caught back to the last checkpoint.
            every=600,
            description="Signs the head of every audit chain that grew (truncation evidence).",
        ),
        Schedule(
            name="sweep events",
            task="fixops.pipeline.events_sweep",
            # Every 30 s: the safety net behind after-commit handling of platform events (a
            # crash between commit and handler, a handler that failed and waits its back-off).
            every=30,
            description="Hands pending platform events (finding changes, expiry notices) to "
            "their handlers again; purges handled ones after a week.",
        ),
        Schedule(
            name="sweep queued scans",
            task="fixops.pipeline.scans_sweep",
            # Every minute: a scan whose broker message was lost waits FIXOPS_SCAN_STUCK_SECONDS
            # (15 min) before it is re-queued; one whose worker died, its lease (60 s) at most.
            every=60,
            description="Re-queues queued scans stuck past FIXOPS_SCAN_STUCK_SECONDS or "
            "abandoned by a dead worker (three times at most), then fails them.",
        ),
        Schedule(
            name="store pending evidence",
            task="fixops.evidence.store_pending",
            # Every minute: a bundle whose after-commit store was lost (worker killed, broker
            # down, store unreachable) is stored within a minute or two of the decision.
            every=60,
            description="Stores signed evidence bundles still pending (write-once objects).",
        ),
        Schedule(
            name="drain outbox",
            task="fixops.connectors.drain",
            # Every FIXOPS_OUTBOX_POLL_SECONDS (5 s by default): the safety net behind the
            # drain triggered after each commit; also retries and breaker probes when due.
            every=settings.FIXOPS_OUTBOX_POLL_SECONDS,
            kwargs={"reason": "beat"},
            description="Delivers due outbox messages (tickets, chat messages, check runs).",
        ),
        Schedule(
            name="reconcile tickets",
            task="fixops.connectors.reconcile",
            # Every FIXOPS_RECONCILE_MINUTES (30 by default): reads linked tickets back from
            # each tracker (paced within its rate limits), records and repairs drift that
            # webhooks missed (docs/connectors.md "Reconciliation and drift").
            every=settings.FIXOPS_RECONCILE_MINUTES * 60,
            description="Reads linked tickets back, records drift and repairs it.",
        ),
        Schedule(
            name="process inbox",
            task="fixops.connectors.inbox_process",
            # Every FIXOPS_INBOX_POLL_SECONDS (10 s by default): the safety net behind the
            # worker woken after each stored webhook delivery; also retries when due.
            every=settings.FIXOPS_INBOX_POLL_SECONDS,
            kwargs={"reason": "beat"},
            description="Applies stored webhook deliveries (ticket closed, reopened, comments).",
        ),
        Schedule(
            name="apply retention",
            task="fixops.pipeline.retention",
            # Every day at 04:15 UTC, in batches: old scan details, closed findings'
            # occurrences, delivery attempts, intel events; expired sessions.
            crontab="15 4 * * *",
            description="Applies each tenant's retention policy (docs/operations.md, Retention).",
        ),
        *_backup(),
    ]


def _backup() -> list[Schedule]:
    """The daily encrypted backup, when FIXOPS_BACKUP_DIR names where to keep it."""
    if not settings.FIXOPS_BACKUP_DIR:
        return []
    return [
        Schedule(
            name="backup",
            task="fixops.backup",
            crontab=settings.FIXOPS_BACKUP_CRONTAB,
            description="Writes an encrypted backup to FIXOPS_BACKUP_DIR and keeps the newest "
            "FIXOPS_BACKUP_KEEP (docs/operations.md, Backups).",
        )
    ]
