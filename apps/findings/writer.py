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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from apps.findings.lifecycle import ACTIVE, CLOSED
from apps.findings.models import Finding, FindingEvent, Occurrence
from apps.findings.models.finding import FindingStatus
from fixops.platform import bulk, events
from fixops.platform.models import Event

TOPIC = "finding.changed"

FINDING_FIELDS = (
    "tenant_id",
    "application_id",
    "dedup_key",
    "dedup_strategy",
    "kind",
    "status",
    "severity",
    "tool",
    "rule_id",
    "title",
    "message",
    "cwe",
    "vuln_id",
    "aliases",
    "component_purl",
    "component_name",
    "component_version",
    "fixed_versions",
    "path",
    "line",
    "resource",
    "cvss",
    "vex_state",
    "vex_justification",
    "first_seen",
    "last_seen",
    "first_scan_id",
    "last_scan_id",
    "reopen_count",
    "updated_at",
    "risk_explanation",
    "ssvc",
    "kev",
)
OCCURRENCE_FIELDS = (
    "tenant_id",
    "application_id",
    "finding_id",
    "tool",
    "branch",
    "rule_id",
    "path",
    "line",
    "fingerprints",
    "suppressed",
    "suppression",
    "baseline_state",
    "original_path",
    "first_scan_id",
    "last_scan_id",
    "last_seen",
)
OCCURRENCE_UPDATE = (
    "rule_id",
    "path",
    "line",
    "fingerprints",
    "suppressed",
    "suppression",
    "baseline_state",
    "original_path",
    "last_scan_id",
    "last_seen",
    "retracted_at",
    "retracted_by_scan_id",
)
EVENT_FIELDS = (
    "tenant_id",
    "finding_id",
    "from_status",
    "to_status",
    "actor",
    "scan_id",
    "reason",
    "created_at",
)
RISK_FIELDS = ("risk_score", "risk_explanation", "ssvc", "epss", "kev", "updated_at")


def _clip(value: str | None, length: int) -> str:
    return (value or "")[:length]


@dataclass(frozen=True)
class NewFinding:
    """What a source reports about one finding; the writer fills the bookkeeping columns."""

    tenant_id: int
    application_id: int
    dedup_key: str
    dedup_strategy: str
    kind: str
    severity: str
    tool: str
    rule_id: str
    title: str
    status: str = FindingStatus.OPEN
    message: str = ""
    cwe: int | None = None
    vuln_id: str = ""
    aliases: list[str] = field(default_factory=list)
    component_purl: str = ""
    component_name: str = ""
    component_version: str = ""
    fixed_versions: list[str] = field(default_factory=list)
    path: str = ""
    line: int | None = None
    resource: str = ""
    cvss: list[dict] = field(default_factory=list)
    vex_state: str = ""
    vex_justification: str = ""

    def row(self, *, now: datetime, scan_id: int | None) -> tuple:
        """The row in FINDING_FIELDS order, clipped to the columns' lengths."""
        return (
            self.tenant_id,
            self.application_id,
            self.dedup_key,
            self.dedup_strategy,
            self.kind,
            self.status,
            self.severity,
            _clip(self.tool, 100),
            _clip(self.rule_id, 500),
            _clip(self.title or self.rule_id, 1000),
            (self.message or "")[:20_000],
            self.cwe,
            _clip(self.vuln_id, 100),
            self.aliases,
            _clip(self.component_purl, 1000),
            _clip(self.component_name, 500),
            _clip(self.component_version, 200),
            self.fixed_versions,
            _clip(self.path, 2000),
            self.line,
            _clip(self.resource, 1000),
            self.cvss,
            _clip(self.vex_state, 40),
            _clip(self.vex_justification, 100),
            now,
            now,
            scan_id,
            scan_id,
            0,
            now,
            {},  # risk_explanation, ssvc, kev: written by the risk refresh after import
            "",
            False,
        )


@dataclass(frozen=True)
class SeenOccurrence:
    """One (finding, tool) sighting in a stream (application, branch)."""

    rule_id: str = ""
    path: str = ""
    line: int | None = None
    fingerprints: dict = field(default_factory=dict)
    suppressed: bool = False
    suppression: str = ""
    baseline_state: str = ""
    original_path: str = ""  # the path as the tool wrote it, when normalisation changed it

    def values(self) -> tuple:
        return (
            _clip(self.rule_id, 500),
            _clip(self.path, 2000),
            self.line,
            self.fingerprints,
            self.suppressed,
            _clip(self.suppression, 500),
            _clip(self.baseline_state, 20),
            _clip(self.original_path, 2000),
        )


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
    """

    def __init__(
        self,
        *,
        cause: str,
        actor: str,
        scan_id: int | None = None,
        now: datetime | None = None,
    ) -> None:
        self.cause = cause
        self.actor = actor[:150]
        self.scan_id = scan_id
        self.now = now or timezone.now()
        self._changes: dict[int, Changes] = defaultdict(Changes)
        self._tenant_of: dict[int, int] = {}

    # --- creation and sightings ---------------------------------------------------------------

    def upsert(
        self,
        found: dict[Unit, NewFinding],
        *,
        reopen_reason: str,
        existing: dict[Unit, tuple[int, str]] | None = None,
    ) -> dict[Unit, int]:
        """Insert the findings not seen before, mark the others seen now and reopen the closed
        ones among them; returns every unit's finding id. `existing` ((pk, status) by unit) saves
        the lookup when the caller has read it already."""
        if not found:
            return {}
        if existing is None:
            existing = self.existing(found)
        new = [unit for unit in found if unit not in existing]
        bulk.insert_rows(
            Finding,
            FINDING_FIELDS,
            (found[unit].row(now=self.now, scan_id=self.scan_id) for unit in new),
        )
        ids = {unit: existing[unit][0] for unit in found if unit in existing}
        if new:
            ids.update(self._new_ids(new))
        seen = [pk for pk, _ in (existing[u] for u in found if u in existing)]
        touch: dict[str, Any] = {"last_seen": self.now, "updated_at": self.now}
        if self.scan_id is not None:
            touch["last_scan_id"] = self.scan_id
        bulk.update_by_ids(Finding, seen, **touch)
        reopen = [(existing[u][0], existing[u][1]) for u in found if u in existing]
        reopen = [(pk, status) for pk, status in reopen if status in CLOSED]
        for unit, pk in ids.items():
            self._tenant_of[pk] = found[unit].tenant_id
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
            pk = ids[unit]
            self._changes[found[unit].tenant_id].opened.append(pk)
        return ids

    def existing(self, found: Iterable[Unit]) -> dict[Unit, tuple[int, str]]:
        """(pk, status) of the units that already have a finding, in one or two queries."""
        units = set(found)
        apps = sorted({app for app, _ in units})
        if len(apps) == 1:
            query = Finding.objects.filter(application_id=apps[0]).values_list(
                "dedup_key", "id", "status"
            )
            return {(apps[0], key): (pk, st) for key, pk, st in query if (apps[0], key) in units}
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
    ) -> None:
        """Insert or refresh the occurrences of the stream(s) `branch` (+ `tool`) for
        (finding id, tool) sightings; a refreshed occurrence is live again."""
        if not seen:
            return
        query = Occurrence.objects.filter(
            application_id__in=sorted(set(application_of.values())), branch=branch
        )
        if tool is not None:
            query = query.filter(tool=tool)
        existing = {
            (finding_id, name): pk
            for pk, finding_id, name in query.values_list("id", "finding_id", "tool")
        }
        inserts, updates = [], []
        for (finding_id, name), occurrence in seen.items():
            values = occurrence.values()
            pk = existing.get((finding_id, name))
            if pk is not None:
                updates.append((pk, *values, self.scan_id, self.now, None, None))
                continue
            inserts.append(
                (
                    tenant_id if tenant_id is not None else self._tenant_of[finding_id],
                    application_of[finding_id],
                    finding_id,
                    name,
                    branch,
                    *values,
                    self.scan_id,
                    self.scan_id,
                    self.now,
                )
            )
        bulk.insert_rows(Occurrence, OCCURRENCE_FIELDS, inserts)
        bulk.update_rows(Occurrence, OCCURRENCE_UPDATE, updates)

    def retract(self, gone: Sequence[tuple[int, int]], *, reason: str) -> int:
        """Retract occurrences ((occurrence pk, finding id)) a stream no longer reports and close
        the active findings left with no live occurrence; returns how many were closed."""
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
        closing = [
            (pk, status, tenant)
            for pk, status, tenant in bulk.values_for_ids(
                Finding.objects.all(), "id", candidates, "id", "status", "tenant_id"
            )
            if status in ACTIVE and pk not in still_reported
        ]
        for pk, _, tenant in closing:
            self._tenant_of[pk] = tenant
        return self.set_status(
            [(pk, status) for pk, status, _ in closing],
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
        self._record(rows, to_status, reason)
        return len(rows)

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

    # --- risk -------------------------------------------------------------------------------------

    def risk(self, rows: Sequence[tuple], *, tenant_of: dict[int, int]) -> int:
        """Write risk columns (RISK_FIELDS after the id, per row); returns rows written."""
        for row in rows:
            self._changes[tenant_of[row[0]]].rescored.append(row[0])
        return bulk.update_rows(Finding, RISK_FIELDS, rows)

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
