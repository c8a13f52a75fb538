"""The one writer of findings: creation, last_seen, status, closure and risk columns.

Whatever causes a change (an import, an advisory match, a risk acceptance, a person, a
re-score), it goes through here, so every change gets the same bookkeeping: a FindingEvent per
status change and one `finding.changed` platform event per tenant, written in the caller's
transaction. The layers above act on that event after commit (tickets, notifications: see
apps/pipeline/reactions.py); the writer never calls them. Writes are bulk: a few statements
whatever the number of findings.

    writer = FindingWriter(cause="scan42", actor="scan:42", scan_id=42)
    ids = writer.upsert(found, reopen_reason="reported again")
    writer.retract(gone, reason="no longer reported by any scan stream")
    writer.finish(comment="FixOps scan 42: status changed by a new scan")
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.findings import sla
from apps.findings.lifecycle import ACTIVE, CLOSED
from apps.findings.models import Finding, FindingEvent, Occurrence, SlaPolicy, Stream
from apps.findings.models.finding import FindingStatus
from apps.findings.rows import (
    EVENT_FIELDS,
    FINDING_FIELDS,
    OCCURRENCE_FIELDS,
    OCCURRENCE_UPDATE,
    RISK_FIELDS,
    SEEN,
    NewFinding,
    SeenOccurrence,
    said,
)
from apps.findings.sightings import live_in
from apps.tenants.models import Tenant
from fixops.platform import bulk, events
from fixops.platform.audit import audit_record
from fixops.platform.models import Event

TOPIC = "finding.changed"

Unit = tuple[int, str]  # (application_id, dedup_key)


@dataclass
class Changes:
    """What one writer did, by finding id; the payload of its `finding.changed` events."""

    opened: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)  # moved out of the active statuses
    activated: list[int] = field(default_factory=list)  # moved back into them (not reopened)
    rescored: list[int] = field(default_factory=list)

    def any(self) -> bool:
        return any((self.opened, self.reopened, self.closed, self.activated, self.rescored))


class FindingWriter:
    """Every finding write of one cause, collected into one event per tenant on `finish()`.

    `cause` names the change for idempotent effects downstream ("scan42", "osv-match"…);
    `actor` is what FindingEvents record ("scan:42", "intel:osv", "user:alice").
    `finish()` writes one audit row per tenant with the batch's counts (`finding.batch`),
    unless `audit=False`: a caller that audits the change itself (an import as one scan row,
    a person's transition per finding).
    """

    def __init__(
        self,
        *,
        cause: str,
        actor: str,
        scan_id: int | None = None,
        now: datetime | None = None,
        audit: bool = True,
    ) -> None:
        self.cause = cause
        self.audit = audit
        self.actor = actor[:150]
        self.scan_id = scan_id
        self.now = now or timezone.now()
        self._changes: dict[int, Changes] = defaultdict(Changes)
        self._tenant_of: dict[int, int] = {}
        self._policies: dict[int, SlaPolicy] = {}

    def policy(self, tenant_id: int) -> SlaPolicy:
        """The tenant's SLA policy, read once per writer."""
        found = self._policies.get(tenant_id)
        if found is None:
            found = self._policies[tenant_id] = sla.policy_for(tenant_id)
        return found

    def _row(self, new: NewFinding) -> tuple:
        policy = self.policy(new.tenant_id)
        due = sla.due_at_insert(policy, severity=new.severity, now=self.now)
        return new.row(now=self.now, scan_id=self.scan_id, due_at=due)

    # --- creation and sightings ---------------------------------------------------------------

    def upsert(
        self,
        units: Mapping[Unit, int],
        *,
        build: Callable[[Unit], NewFinding],
        reopen_reason: str,
        existing: dict[Unit, tuple[int, str]] | None = None,
    ) -> dict[Unit, int]:
        """Insert the findings of `units` (each with its tenant id) not seen before, mark the
        others seen now and reopen the closed ones among them; returns every unit's finding
        id. `build(unit)` makes a new unit's NewFinding; it runs only for new units, as the
        rows stream into COPY, so a re-import builds nothing for what it saw before and an
        import keeps no second copy of its findings alive. `existing` ((pk, status) by unit)
        saves the lookup when the caller has read it already."""
        if not units:
            return {}
        if existing is None:
            existing = self.existing(units)
        new = [unit for unit in units if unit not in existing]
        for tenant_id in sorted({units[unit] for unit in new}):
            self.policy(tenant_id)  # read before the COPY: no query may run during it
        bulk.insert_rows(
            Finding,
            FINDING_FIELDS,
            (self._row(build(unit)) for unit in new),
        )
        ids = {unit: existing[unit][0] for unit in units if unit in existing}
        old = [existing[unit] for unit in ids]
        if new:
            ids.update(self._new_ids(new))
        touch: dict[str, Any] = {"last_seen": self.now, "updated_at": self.now}
        if self.scan_id is not None:
            touch["last_scan_id"] = self.scan_id
        bulk.update_by_ids(Finding, [pk for pk, _ in old], **touch)
        reopen = [(pk, status) for pk, status in old if status in CLOSED]
        tenant_of = self._tenant_of
        for unit, pk in ids.items():
            tenant_of[pk] = units[unit]
        bulk.update_by_ids(
            Finding,
            [pk for pk, _ in reopen],
            status=FindingStatus.REOPENED,
            closed_at=None,
            closed_by_scan_id=None,
            reopen_count=F("reopen_count") + 1,
        )
        self._record(reopen, FindingStatus.REOPENED, reopen_reason)
        for unit in new:
            self._changes[units[unit]].opened.append(ids[unit])
        return ids

    def existing(self, found: Iterable[Unit]) -> dict[Unit, tuple[int, str]]:
        """(pk, status) of the units that already have a finding, in one or two queries."""
        units = set(found)
        apps = sorted({app for app, _ in units})
        if len(apps) == 1:
            app = apps[0]
            keys = {key for _, key in units}
            query = Finding.objects.filter(application_id=app).values_list(
                "dedup_key", "id", "status"
            )
            return {(app, key): (pk, st) for key, pk, st in query if key in keys}
        rows = bulk.values_for_ids(
            Finding.objects.filter(application_id__in=apps),
            "dedup_key",
            sorted({key for _, key in units}),
            "application_id",
            "dedup_key",
            "id",
            "status",
        )
        return {(app, key): (pk, st) for app, key, pk, st in rows if (app, key) in units}

    def _new_ids(self, new: list[Unit]) -> dict[Unit, int]:
        wanted = set(new)
        apps = sorted({app for app, _ in new})
        if self.scan_id is not None:
            query = Finding.objects.filter(application_id__in=apps, first_scan_id=self.scan_id)
            rows = query.values_list("application_id", "dedup_key", "id")
        else:
            rows = bulk.values_for_ids(
                Finding.objects.filter(application_id__in=apps),
                "dedup_key",
                sorted({key for _, key in new}),
                "application_id",
                "dedup_key",
                "id",
            )
        return {(app, key): pk for app, key, pk in rows if (app, key) in wanted}

    def occurrences(
        self,
        seen: dict[tuple[int, str], SeenOccurrence],
        *,
        tenant_id: int | None = None,
        application_of: dict[int, int],
        branch: str,
        tool: str | None = None,
        target: str = "",
    ) -> list[tuple[int, int, str]]:
        """Insert or refresh the occurrences of the stream(s) `branch` (+ `tool`) and `target`
        for (finding id, tool) sightings; a refreshed occurrence is live again. Returns the
        live occurrences of those streams that `seen` did not include, (pk, finding id, tool),
        read by the same query: what a re-import may retract."""
        if not seen:
            return []
        query = Occurrence.objects.filter(
            application_id__in=sorted(set(application_of.values())), branch=branch, target=target
        )
        if tool is not None:
            query = query.filter(tool=tool)
        # What each live or retracted occurrence says now, as a digest (a stream's rows would
        # otherwise be held twice): a sighting that says the same (the common case of a
        # re-import) only moves last_seen, in one narrow UPDATE.
        existing = {
            (finding_id, name): (pk, said(values), retracted is not None)
            for pk, finding_id, name, retracted, *values in query.values_list(
                "id", "finding_id", "tool", "retracted_at", *SEEN
            ).iterator(chunk_size=5000)  # a server-side cursor: the rows never sit whole
        }
        inserts, updates, unchanged = [], [], []
        for (finding_id, name), occurrence in seen.items():
            values = occurrence.values()
            known = existing.get((finding_id, name))
            if known is not None:
                pk, stored, retracted = known
                if stored == said(values) and not retracted:
                    unchanged.append(pk)
                else:
                    updates.append((pk, *values, self.scan_id, self.now, None, None))
                continue
            inserts.append(
                (
                    tenant_id if tenant_id is not None else self._tenant_of[finding_id],
                    application_of[finding_id],
                    finding_id,
                    name,
                    branch,
                    target,
                    *values,
                    self.scan_id,
                    self.scan_id,
                    self.now,
                )
            )
        bulk.insert_rows(Occurrence, OCCURRENCE_FIELDS, inserts)
        bulk.update_rows(Occurrence, OCCURRENCE_UPDATE, updates)
        bulk.update_by_ids(Occurrence, unchanged, last_seen=self.now, last_scan_id=self.scan_id)
        return [
            (pk, finding_id, name)
            for (finding_id, name), (pk, _, retracted) in existing.items()
            if not retracted and (finding_id, name) not in seen
        ]

    def settle(self, streams: Iterable[Stream]) -> None:
        """Write the sightings a repeated scan left pending on `streams` (as read before anything
        moved them; apps/findings/sightings.py) into their live occurrences and findings that
        have older ones, and clear the mark."""
        for stream in [s for s in streams if s.sightings_pending]:
            live = live_in([stream])
            seen = {"last_seen": stream.last_scan_at, "last_scan_id": stream.last_scan_id}
            older = {"last_seen__lt": stream.last_scan_at}
            Finding.objects.filter(pk__in=live.values("finding_id"), **older).update(**seen)
            live.filter(**older).update(**seen)
            Stream.objects.filter(pk=stream.pk).update(sightings_pending=False)

    def adopt(self, *, application_id: int, branch: str, tools: Sequence[str], target: str) -> int:
        """Give the untargeted ("") streams of `tools` the target `target`, occurrences and all
        (the first named scan of a stream older than targets); returns occurrences moved."""
        return Occurrence.objects.filter(
            application_id=application_id, branch=branch, tool__in=sorted(tools), target=""
        ).update(target=target)

    def retract(self, gone: Sequence[tuple[int, int]], *, reason: str) -> int:
        """Retract occurrences ((occurrence pk, finding id)) a stream no longer reports and close
        the active findings left with no live occurrence (FIXED), verifying the FIXED ones (a
        fix a person or a ticket declared while scans still reported it); returns how many
        were closed."""
        if not gone:
            return 0
        bulk.update_by_ids(
            Occurrence,
            [pk for pk, _ in gone],
            retracted_at=self.now,
            retracted_by_scan_id=self.scan_id,
        )
        candidates = sorted({finding_id for _, finding_id in gone})
        still_reported = {
            finding_id
            for (finding_id,) in bulk.values_for_ids(
                Occurrence.objects.filter(retracted_at__isnull=True),
                "finding_id",
                candidates,
                "finding_id",
            )
        }
        rows = [
            (pk, status, tenant)
            for pk, status, tenant in bulk.values_for_ids(
                Finding.objects.all(), "id", candidates, "id", "status", "tenant_id"
            )
            if pk not in still_reported
        ]
        for pk, _, tenant in rows:
            self._tenant_of[pk] = tenant
        # Fixed while still reported (a person or a ticket said so): no stream reports it any
        # more, so the fix is verified.
        self.set_status(
            [(pk, status) for pk, status, _ in rows if status == FindingStatus.FIXED],
            FindingStatus.VERIFIED,
            reason=f"fix verified: {reason}",
            closed_by_scan_id=self.scan_id,
            updated_at=self.now,
        )
        return self.set_status(
            [(pk, status) for pk, status, _ in rows if status in ACTIVE],
            FindingStatus.FIXED,
            reason=reason,
            closed_at=self.now,
            closed_by_scan_id=self.scan_id,
            updated_at=self.now,
        )

    # --- status ---------------------------------------------------------------------------------

    def set_status(
        self,
        rows: Sequence[tuple[int, str]],
        to_status: str,
        *,
        reason: str,
        tenant_id: int | None = None,
        **columns: Any,
    ) -> int:
        """Move findings ((pk, current status)) to `to_status` with one FindingEvent each and any
        extra `columns` written alongside; returns how many moved."""
        if not rows:
            return 0
        if tenant_id is not None:
            for pk, _ in rows:
                self._tenant_of[pk] = tenant_id
        bulk.update_by_ids(Finding, [pk for pk, _ in rows], status=to_status, **columns)
        self._sla_clock(rows, to_status)
        self._record(rows, to_status, reason)
        return len(rows)

    def _sla_clock(self, rows: Sequence[tuple[int, str]], to_status: str) -> None:
        """Pause the SLA clock of findings entering risk_accepted; when they leave it for a
        status that needs work, restart the clock in full or resume it with the time left (the
        tenant's `restart_on_expiry`), and store the new `due_at`. Bulk per tenant."""
        accepted = FindingStatus.RISK_ACCEPTED
        if to_status == accepted:
            pausing = [pk for pk, old in rows if old != accepted]
            bulk.update_by_ids(Finding, pausing, sla_paused_at=self.now)
            return
        if to_status not in ACTIVE:
            return
        resuming: dict[int, list[int]] = defaultdict(list)
        for pk, old in rows:
            if old == accepted:
                resuming[self._tenant_of[pk]].append(pk)
        now = Value(self.now, output_field=DateTimeField())
        for tenant_id, ids in sorted(resuming.items()):
            policy = self.policy(tenant_id)
            if policy.restart_on_expiry:
                start: Any = now
            else:  # shift the start by the time spent paused: the time left is unchanged
                paused = now - Coalesce(F("sla_paused_at"), now)
                start = ExpressionWrapper(sla.CLOCK_START + paused, output_field=DateTimeField())
            bulk.update_by_ids(Finding, ids, sla_started_at=start, sla_paused_at=None)
            sla.recompute(policy=policy, ids=ids)

    def _record(self, rows: Sequence[tuple[int, str]], to_status: str, reason: str) -> None:
        tenant_of, actor, scan_id, now = self._tenant_of, self.actor, self.scan_id, self.now
        bulk.insert_rows(
            FindingEvent,
            EVENT_FIELDS,
            ((tenant_of[pk], pk, old, to_status, actor, scan_id, reason, now) for pk, old in rows),
        )
        for pk, old in rows:
            changes = self._changes[self._tenant_of[pk]]
            if to_status == FindingStatus.REOPENED:
                changes.reopened.append(pk)
            elif old in ACTIVE and to_status not in ACTIVE:
                changes.closed.append(pk)
            elif old not in ACTIVE and to_status in ACTIVE:
                changes.activated.append(pk)

    # --- ownership ----------------------------------------------------------------------------

    def assign(
        self, ids: Sequence[int], *, owner_user_id: int | None, owner_team_id: int | None
    ) -> int:
        """Give findings `ids` an owner (a user, a team or none) in one statement; returns rows
        written. No status changes, so no FindingEvent and no `finding.changed`: the caller
        audits each finding's old and new owner."""
        return bulk.update_by_ids(
            Finding,
            list(ids),
            owner_user_id=owner_user_id,
            owner_team_id=owner_team_id,
            updated_at=self.now,
        )

    # --- risk -------------------------------------------------------------------------------------

    def risk(self, rows: Sequence[tuple], *, tenant_of: dict[int, int]) -> int:
        """Write risk columns (RISK_FIELDS after the id, per row); returns rows written."""
        by_tenant: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            self._changes[tenant_of[row[0]]].rescored.append(row[0])
            by_tenant[tenant_of[row[0]]].append(row[0])
        written = bulk.update_rows(Finding, RISK_FIELDS, rows)
        # KEV and SSVC may shorten deadlines; without such overrides they cannot move one.
        for tenant_id, ids in sorted(by_tenant.items()):
            policy = self.policy(tenant_id)
            if sla.depends_on_intel(policy):
                sla.recompute(policy=policy, ids=ids)
        return written

    def reclassify(self, rows: Sequence[tuple[int, str]], *, tenant_id: int) -> int:
        """Set findings' severity ((pk, severity)) and their `due_at` with it; returns rows."""
        by_severity: dict[str, list[int]] = defaultdict(list)
        for pk, severity in rows:
            by_severity[severity].append(pk)
            self._changes[tenant_id].rescored.append(pk)
        for severity, ids in sorted(by_severity.items()):
            bulk.update_by_ids(Finding, ids, severity=severity, updated_at=self.now)
        sla.recompute(policy=self.policy(tenant_id), ids=[pk for pk, _ in rows])
        return len(rows)

    # --- the event ----------------------------------------------------------------------------

    def changes(self, tenant_id: int) -> Changes:
        """What this writer changed in `tenant_id` so far."""
        return self._changes[tenant_id]

    def finish(self, *, comment: str = "") -> list[Event]:
        """Emit one `finding.changed` event per tenant that had changes (in the caller's
        transaction); returns them so a flow can handle them at once."""
        emitted = []
        for tenant_id, changes in sorted(self._changes.items()):
            if not changes.any():
                continue
            if self.audit:
                self._audit(tenant_id, changes)
            emitted.append(
                events.emit(
                    topic=TOPIC,
                    tenant_id=tenant_id,
                    payload={
                        "cause": self.cause,
                        "actor": self.actor,
                        "comment": comment,
                        "opened": changes.opened,
                        "reopened": changes.reopened,
                        "closed": changes.closed,
                        "activated": changes.activated,
                        "rescored": changes.rescored,
                    },
                )
            )
        self._changes.clear()
        return emitted

    def _audit(self, tenant_id: int, changes: Changes) -> None:
        counts = {
            name: len(getattr(changes, name))
            for name in ("opened", "reopened", "closed", "activated", "rescored")
        }
        audit_record(
            tenant=Tenant(pk=tenant_id),  # an id is all the chain needs
            actor=self.actor,
            action="finding.batch",
            target_type="findings.writer",
            target_id=self.cause or "-",
            before=None,
            after={"cause": self.cause, **counts},
        )
