"""What happened to a finding after it was found: its status changes (FindingEvents in time
order, along the lifecycle's transitions), the risk acceptance of an accepted one, the ticket
of a high or critical one. A mixin of TenantGenerator (tenant.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fixops.management.dataset.text import EMPTY_DICT, EMPTY_LIST


class FindingHistory:
    """Rows that follow a finding: events, acceptances, ticket links."""

    def _events(self, finding_id, status, *, first_seen, closed_at, stream, closed_k) -> list:
        """The status changes that led to `status`, in time order: [(to, when, actor, ...)]."""
        rng, now = self.rng, self.ctx.now
        person = f"user:{rng.choice(self.people.users)[1]}"
        horizon = closed_at or (stream.times[closed_k] if closed_k is not None else now)
        span = max((horizon - first_seen).total_seconds(), 60.0)

        def at(share: float) -> datetime:
            return first_seen + timedelta(seconds=span * share)

        steps: list[tuple[str, datetime, str, int | None, str]] = []
        if status in ("triaged", "in_progress"):
            steps.append(("triaged", at(rng.uniform(0.01, 0.3)), person, None, ""))
        if status == "in_progress":
            steps.append(("in_progress", at(rng.uniform(0.35, 0.9)), person, None, ""))
        if status in ("fixed", "verified", "reopened"):
            if rng.random() < 0.5:
                steps.append(("triaged", at(rng.uniform(0.01, 0.5)), person, None, ""))
            scan = stream.scan_ids[closed_k]
            reason = "no longer reported by any scan stream"
            steps.append(
                ("fixed", closed_at or stream.times[closed_k], f"scan:{scan}", scan, reason)
            )
        if status == "verified":
            steps.append(
                (
                    "verified",
                    min(closed_at + timedelta(hours=rng.uniform(1, 72)), now),
                    person,
                    None,
                    "",
                )
            )
        if status == "reopened":
            k = min(closed_k + 1, len(stream.times) - 1)
            scan = stream.scan_ids[k]
            steps.append(
                (
                    "reopened",
                    max(stream.times[k], steps[-1][1]),
                    f"scan:{scan}",
                    scan,
                    "reported again",
                )
            )
        if status == "risk_accepted":
            approver = rng.choice(self.people.approvers or self.people.users)[1]
            steps.append(
                (
                    "risk_accepted",
                    at(rng.uniform(0.05, 0.6)),
                    f"user:{approver}",
                    None,
                    "risk acceptance approved",
                )
            )
        if status == "false_positive":
            steps.append(
                (
                    "false_positive",
                    at(rng.uniform(0.01, 0.4)),
                    person,
                    None,
                    "test fixture, not production code",
                )
            )
        previous = "open"
        for to, when, actor, scan, reason in steps:
            self.ctx.files["event"].add(
                (
                    self.ctx.take_id("event"),
                    self.tenant_id,
                    finding_id,
                    previous,
                    to,
                    actor,
                    scan,
                    reason,
                    when,
                )
            )
            previous = to
        return steps

    def _acceptance(self, app_id, finding_id, facts, approved_at) -> None:
        rng = self.rng
        requester = rng.choice(self.people.users)
        approver = rng.choice(self.people.approvers or self.people.users)
        requested_at = approved_at - timedelta(hours=rng.uniform(2, 96))
        self.ctx.files["acceptance"].add(
            (
                self.ctx.take_id("acceptance"),
                self.tenant_id,
                "finding",
                app_id,
                finding_id,
                facts.get("vuln_id", ""),
                facts["rule_id"],
                "",
                "Compensating control in place; fix scheduled with the next release.",
                "approved",
                max(
                    approved_at + timedelta(days=rng.randint(30, 90)),
                    self.ctx.now + timedelta(days=7),
                ),
                requester[0],
                f"user:{requester[1]}",
                requested_at,
                approver[0],
                f"user:{approver[1]}",
                approved_at,
                "Approved until the fix ships.",
                None,
            )
        )

    def _link(self, finding_id: int, status: str, first_seen: datetime) -> None:
        self.ticket_number += 1
        key = f"{self.people.integration_key}-{self.ticket_number}"
        closed = status in ("fixed", "verified", "false_positive")
        created = first_seen + timedelta(minutes=self.rng.randint(1, 600))
        self.ctx.files["link"].add(
            (
                self.ctx.take_id("link"),
                self.tenant_id,
                self.people.integration_id,
                f"fixops-f-{finding_id}",
                finding_id,
                None,
                str(10000 + self.ticket_number),
                key,
                f"https://jira.example.com/browse/{key}",
                "Done" if closed else "To Do",
                "closed" if closed else "open",
                1,
                EMPTY_DICT,
                "Done" if closed else "To Do",  # what our last write left (echo suppression)
                EMPTY_LIST,
                created,
                min(created + timedelta(days=1), self.ctx.now),
            )
        )
