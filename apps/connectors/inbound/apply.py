"""Apply what a vendor says happened to its remote objects onto FixOps: `apply_changes`.

One entry point for both sources of `RemoteChange`s: the inbox worker (webhooks) and the
reconciliation walk. Every change runs in its own savepoint inside the caller's transaction,
and is idempotent by state (a finding already fixed is not fixed twice, a mirrored comment is
stored once, a pending acceptance request is not asked for twice), so a change applied twice
after a crash or seen by both a webhook and reconciliation changes things once.

What a change does (docs/connectors.md, "Inbound"):

- STATUS, classified by apps/connectors/inbound/mapping.py:
  done -> an active finding becomes `fixed` (pending verification: the next scan of a stream
  that held it verifies or reopens it, apps/findings/writer.py); won't-do -> a risk-acceptance
  request for an approver (written after commit by apps/pipeline/inbound.py, from the
  `connectors.acceptance_wanted` event), the finding unchanged until one acts; reopened -> a
  fixed/verified finding becomes `reopened`. Transitions go through the findings services (audited).
- COMMENT: mirrored into the finding's comment thread when the integration's
  `inbound_comments` is "mirror".
- DELETED: recorded on the link (`remote_deleted_at`); reconciliation owns drift records.
- ACTION (Slack buttons, value = our reference `fixops-f-<id>`): "acknowledge" triages an
  open finding, "request_acceptance" asks for a risk acceptance.

Ignored, with the reason in the result: changes for no link of ours, echoes (the status or a
comment our own last write left, or anything by the integration's own accounts), changes
older than the last one applied, and changes with nothing to do.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.connectors.inbound import echo
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.mapping import Outcome, classify
from apps.connectors.models import ExternalLink, Integration
from apps.findings.comments import comment_add
from apps.findings.lifecycle import ACTIVE
from apps.findings.models import Finding, FindingStatus
from apps.findings.services import finding_transition
from apps.policies.models import AcceptanceStatus, RiskAcceptance
from fixops.platform import events
from fixops.platform.audit import audit_record
from fixops.platform.errors import DomainError

logger = logging.getLogger(__name__)

Source = Literal["webhook", "reconcile"]

APPLIED = "applied"
IGNORED = "ignored"
UNMATCHED = "unmatched"

# Emitted (in the change's transaction) when a ticket asks for a risk acceptance. The request
# itself is written by apps/pipeline/reactions.py after commit: the acceptance service reads
# policy settings and intel, which the connectors layer may not import (pyproject.toml's
# independence contract).
ACCEPTANCE_WANTED = "connectors.acceptance_wanted"

_FINDING_REFERENCE = re.compile(r"^fixops-f-(\d{1,18})$")
ACTIONS = ("acknowledge", "request_acceptance")


@dataclass(frozen=True)
class ChangeOutcome:
    change: RemoteChange
    outcome: str  # applied | ignored | unmatched
    effect: str = ""  # what was done ("fixed", "acceptance_requested"…) or why not
    finding_id: int | None = None


@dataclass
class ApplyResult:
    outcomes: list[ChangeOutcome] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def applied(self) -> int:
        return self._count(APPLIED)

    @property
    def ignored(self) -> int:
        return self._count(IGNORED)

    @property
    def unmatched(self) -> int:
        return self._count(UNMATCHED)

    def effects(self) -> dict[str, int]:
        """How many changes had each effect ("fixed": 2, "echo": 1…)."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.effect] = counts.get(o.effect, 0) + 1
        return counts

    def as_dict(self) -> dict:
        return {
            "applied": self.applied,
            "ignored": self.ignored,
            "unmatched": self.unmatched,
            "effects": self.effects(),
        }


def apply_changes(
    integration: Integration, changes: list[RemoteChange], *, source: Source
) -> ApplyResult:
    """Apply `changes` reported by `integration`'s vendor (in the caller's transaction, one
    savepoint per change); what became of each one."""
    ctx = _Context(integration, source)
    outcomes = []
    for change in changes:
        try:
            with transaction.atomic():
                outcome = _apply_one(ctx, change)
        except DomainError as exc:
            # A service refused (an invalid transition, a policy limit): nothing changed.
            outcome = ChangeOutcome(change, IGNORED, f"refused: {exc}"[:300])
        outcomes.append(outcome)
    if outcomes:
        logger.info(
            "inbound %s for integration %s: %s",
            source,
            integration.pk,
            ApplyResult(outcomes).as_dict(),
        )
    return ApplyResult(outcomes)


class _Context:
    """Per-call state: the integration's settings read once."""

    def __init__(self, integration: Integration, source: Source) -> None:
        self.integration = integration
        self.source = source
        self.now = timezone.now()
        self.settings = integration.settings or {}
        self._own: set[str] | None = None

    def own_accounts(self) -> set[str]:
        """The integration's own vendor accounts: the `own_account` setting plus the account
        in its credentials (e-mail / user name), read once."""
        if self._own is None:
            own = self.settings.get("own_account") or []
            names = [own] if isinstance(own, str) else list(own)
            creds = self.integration.credentials
            names += [creds.get(k, "") for k in ("email", "username", "user", "account_id")]
            self._own = {str(n).strip().casefold() for n in names if str(n).strip()}
        return self._own

    def actor(self, change: RemoteChange) -> str:
        return f"{self.integration.kind}:{change.actor or 'unknown'}"[:150]


# --- One change --------------------------------------------------------------------------------


def _link_for(integration: Integration, change: RemoteChange) -> ExternalLink | None:
    links = ExternalLink.objects.filter(integration=integration)
    match = Q(remote_id=change.remote_id) if change.remote_id else Q(pk__in=[])
    if change.remote_key:
        match |= Q(remote_key=change.remote_key)
    # Locked: a webhook and reconciliation may apply changes of one ticket at once.
    return links.filter(match).select_for_update().order_by("id").first()


def _apply_one(ctx: _Context, change: RemoteChange) -> ChangeOutcome:
    if change.kind == ChangeKind.ACTION:
        return _apply_action(ctx, change)
    link = _link_for(ctx.integration, change)
    if link is None:
        return ChangeOutcome(change, UNMATCHED, "no link")
    if change.actor and change.actor.strip().casefold() in ctx.own_accounts():
        return _seen(link, change, ChangeOutcome(change, IGNORED, "own account"))
    stale = change.occurred_at and link.inbound_at and change.occurred_at < link.inbound_at
    if stale and change.kind == ChangeKind.STATUS:
        # Deliveries arrive out of order (Jira retries for up to 30 minutes): an older status
        # must not undo a newer one. Comments are not ordered.
        return ChangeOutcome(change, IGNORED, "stale")
    handler = {
        ChangeKind.DELETED: _apply_deleted,
        ChangeKind.COMMENT: _apply_comment,
        ChangeKind.STATUS: _apply_status,
    }[change.kind]
    return _seen(link, change, handler(ctx, link, change))


def _seen(link: ExternalLink, change: RemoteChange, outcome: ChangeOutcome) -> ChangeOutcome:
    """Remember the vendor's time of the latest change of this link (orders later ones)."""
    when = change.occurred_at
    if when is not None and (link.inbound_at is None or when > link.inbound_at):
        ExternalLink.objects.filter(pk=link.pk).update(inbound_at=when)
        link.inbound_at = when
    return outcome


def _finding(link: ExternalLink) -> Finding | None:
    if link.finding_id is None:
        return None
    return Finding.objects.filter(pk=link.finding_id, tenant_id=link.tenant_id).first()


def _apply_status(ctx: _Context, link: ExternalLink, change: RemoteChange) -> ChangeOutcome:
    status = (change.status or change.status_category)[:100]
    echoed = bool(link.sent_status) and status.casefold() == link.sent_status.casefold()
    fields = {"remote_status": status, "last_sync_at": ctx.now}
    if not echoed and link.sent_status:
        # The ticket moved away from what our write left: a later return to that status is
        # a person's change, not our echo.
        fields["sent_status"] = ""
    ExternalLink.objects.filter(pk=link.pk).update(**fields)
    if echoed:
        return ChangeOutcome(change, IGNORED, "echo")
    finding = _finding(link)
    if finding is None:
        return ChangeOutcome(change, IGNORED, "no finding (grouped or decision ticket)")
    outcome = classify(ctx.integration.kind, change, ctx.settings.get("status_map"))
    words = "/".join(w for w in (change.status, change.resolution) if w) or "?"
    reason = f"{link.remote_key or link.remote_id} {words} at {ctx.integration.name}"
    if outcome == Outcome.WONT_DO:
        return _request_acceptance(ctx, change, finding, f"ticket closed as won't do: {reason}")
    if outcome == Outcome.DONE:
        return _transition(
            ctx,
            change,
            finding,
            allowed_from=ACTIVE,
            to_status=FindingStatus.FIXED,
            reason=f"ticket closed as done: {reason}",
        )
    if outcome == Outcome.REOPENED:
        # Only fixed/verified findings reopen: risk-accepted or false-positive ones stay as
        # people decided (reopening a ticket does not revoke an acceptance).
        closed = {FindingStatus.FIXED, FindingStatus.VERIFIED}
        return _transition(
            ctx,
            change,
            finding,
            allowed_from=closed,
            to_status=FindingStatus.REOPENED,
            reason=f"ticket reopened: {reason}",
        )
    return ChangeOutcome(change, IGNORED, "no mapping", finding.pk)


def _transition(
    ctx: _Context,
    change: RemoteChange,
    finding: Finding,
    *,
    allowed_from: frozenset[str] | set[str],
    to_status: str,
    reason: str,
) -> ChangeOutcome:
    """Move the finding through the findings service (audited), unless it is elsewhere."""
    if finding.status not in allowed_from:
        return ChangeOutcome(change, IGNORED, f"finding is {finding.status}", finding.pk)
    finding_transition(
        tenant=ctx.integration.tenant,
        finding=finding,
        to_status=to_status,
        actor=ctx.actor(change),
        reason=reason,
    )
    return ChangeOutcome(change, APPLIED, to_status, finding.pk)


def _request_acceptance(
    ctx: _Context, change: RemoteChange, finding: Finding, justification: str
) -> ChangeOutcome:
    if finding.status not in ACTIVE:
        return ChangeOutcome(change, IGNORED, f"finding is {finding.status}", finding.pk)
    pending = RiskAcceptance.objects.filter(
        tenant_id=finding.tenant_id, finding=finding, status=AcceptanceStatus.REQUESTED
    )
    if pending.exists():
        return ChangeOutcome(change, IGNORED, "acceptance already requested", finding.pk)
    events.emit(
        topic=ACCEPTANCE_WANTED,
        tenant_id=finding.tenant_id,
        payload={
            "finding_id": finding.pk,
            "integration_id": ctx.integration.pk,
            "actor": ctx.actor(change),
            "justification": justification,
            "days": int(ctx.settings.get("acceptance_days") or 90),
        },
    )
    return ChangeOutcome(change, APPLIED, "acceptance_requested", finding.pk)


def _apply_comment(ctx: _Context, link: ExternalLink, change: RemoteChange) -> ChangeOutcome:
    if echo.is_echo(
        link.sent_comments or [], comment_id=change.comment_id, body=change.comment_body
    ):
        return ChangeOutcome(change, IGNORED, "echo")
    if ctx.settings.get("inbound_comments", "off") != "mirror":
        return ChangeOutcome(change, IGNORED, "comments not mirrored")
    finding = _finding(link)
    if finding is None:
        return ChangeOutcome(change, IGNORED, "no finding (grouped or decision ticket)")
    if not change.comment_body.strip():
        return ChangeOutcome(change, IGNORED, "empty comment", finding.pk)
    mirrored = finding.comments.filter(integration_id=ctx.integration.pk)
    if change.comment_id and mirrored.filter(external_id=change.comment_id[:200]).exists():
        return ChangeOutcome(change, IGNORED, "already mirrored", finding.pk)
    comment_add(
        tenant=ctx.integration.tenant,
        finding=finding,
        body=change.comment_body[:10_000],
        actor=ctx.actor(change),
        source=ctx.integration.kind,
        integration_id=ctx.integration.pk,
        external_id=change.comment_id,
        remote_author=change.actor,
    )
    return ChangeOutcome(change, APPLIED, "comment_mirrored", finding.pk)


def _apply_deleted(ctx: _Context, link: ExternalLink, change: RemoteChange) -> ChangeOutcome:
    if link.remote_deleted_at is not None:
        return ChangeOutcome(change, IGNORED, "already deleted", link.finding_id)
    when = change.occurred_at or ctx.now
    ExternalLink.objects.filter(pk=link.pk).update(remote_deleted_at=when, last_sync_at=ctx.now)
    audit_record(
        tenant=ctx.integration.tenant,
        actor=ctx.actor(change),
        action="link.remote_deleted",
        target_type="connectors.externallink",
        target_id=link.pk,
        before={"remote_deleted_at": None},
        after={"remote_deleted_at": when.isoformat(), "source": ctx.source},
    )
    return ChangeOutcome(change, APPLIED, "link_deleted", link.finding_id)


def _apply_action(ctx: _Context, change: RemoteChange) -> ChangeOutcome:
    matched = _FINDING_REFERENCE.match(change.value or "")
    if change.action not in ACTIONS or matched is None:
        return ChangeOutcome(change, IGNORED, "unknown action")
    finding = Finding.objects.filter(
        pk=int(matched.group(1)), tenant_id=ctx.integration.tenant_id
    ).first()
    if finding is None:
        return ChangeOutcome(change, UNMATCHED, "no finding")
    if change.action == "request_acceptance":
        justification = f"requested from {ctx.integration.name} by {change.actor or 'unknown'}"
        return _request_acceptance(ctx, change, finding, justification)
    fresh = {FindingStatus.OPEN, FindingStatus.REOPENED}
    reason = f"acknowledged in {ctx.integration.name}"
    return _transition(
        ctx, change, finding, allowed_from=fresh, to_status=FindingStatus.TRIAGED, reason=reason
    )
