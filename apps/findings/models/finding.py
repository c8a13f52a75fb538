"""Findings (one real problem per application) and occurrences (who reported it, where)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFO = "info", "Info"


SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    TRIAGED = "triaged", "Triaged"
    IN_PROGRESS = "in_progress", "In progress"
    FIXED = "fixed", "Fixed (pending verification)"
    VERIFIED = "verified", "Verified fixed"
    RISK_ACCEPTED = "risk_accepted", "Risk accepted"
    FALSE_POSITIVE = "false_positive", "False positive"
    REOPENED = "reopened", "Reopened"


class FindingKind(models.TextChoices):
    SAST = "sast", "SAST"
    SCA = "sca", "SCA"
    IAC = "iac", "IaC"
    SECRET = "secret", "Secret"
    DAST = "dast", "DAST"
    CONTAINER = "container", "Container"


# Hot-path tables (a 100,000-result import writes 200,000 rows) keep only the foreign keys
# that guard real integrity (finding -> application, occurrence -> finding): PostgreSQL
# checks each constraint per row at commit, and the tenant and scan references are set by
# construction in apps/findings/ingestion.py and removed by Django's deletion collector.
_UNCHECKED = {"db_constraint": False, "db_index": False, "related_name": "+"}


def _scan_ref() -> models.ForeignKey:
    """A reference to the scan that saw, closed or retracted a row (informational, unchecked)."""
    return models.ForeignKey(
        "findings.Scan", null=True, blank=True, on_delete=models.SET_NULL, **_UNCHECKED
    )


class Finding(TenantOwned):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, **_UNCHECKED)
    # Covered by finding_identity_uniq (tenant, application, dedup_key).
    application = models.ForeignKey(
        "findings.Application", on_delete=models.CASCADE, related_name="findings", db_index=False
    )
    dedup_key = models.CharField(max_length=64)
    dedup_strategy = models.CharField(max_length=20)
    kind = models.CharField(max_length=20, choices=FindingKind.choices)
    status = models.CharField(
        max_length=20, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    tool = models.CharField(max_length=100)  # the tool that first reported it
    rule_id = models.CharField(max_length=500)
    title = models.CharField(max_length=1000)
    message = models.TextField(blank=True)
    cwe = models.PositiveIntegerField(null=True, blank=True)
    vuln_id = models.CharField(max_length=100, blank=True)  # CVE preferred over GHSA/OSV ids
    aliases = models.JSONField(default=list, blank=True)
    component_purl = models.CharField(max_length=1000, blank=True)
    component_name = models.CharField(max_length=500, blank=True)
    component_version = models.CharField(max_length=200, blank=True)
    fixed_versions = models.JSONField(default=list, blank=True)
    path = models.CharField(max_length=2000, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    resource = models.CharField(max_length=1000, blank=True)
    cvss = models.JSONField(default=list, blank=True)
    vex_state = models.CharField(max_length=40, blank=True)
    vex_justification = models.CharField(max_length=100, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    first_scan = _scan_ref()
    last_scan = _scan_ref()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by_scan = _scan_ref()
    reopen_count = models.PositiveIntegerField(default=0)
    # When the SLA clock (re)started; NULL means first_seen. Set when a risk acceptance expires
    # and the tenant restarts the clock (apps/policies/acceptances.py).
    sla_started_at = models.DateTimeField(null=True, blank=True)
    # When the finding must be fixed (apps/findings/sla.py): clock start + the tenant's SLA
    # days, kept current by the findings writer; NULL when its severity has no deadline.
    due_at = models.DateTimeField(null=True, blank=True)
    # Set while a risk acceptance holds (status risk_accepted): the clock is paused.
    sla_paused_at = models.DateTimeField(null=True, blank=True)
    # The due_at a breach was announced for (once per finding and due_at).
    sla_breach_announced = models.DateTimeField(null=True, blank=True)
    # Risk (apps/intel/risk.py): the score, each component's contribution, and the intel it
    # used, copied here so lists filter and sort without joining the intel tables.
    risk_score = models.FloatField(null=True, blank=True)
    risk_explanation = models.JSONField(default=dict, blank=True)
    ssvc = models.CharField(max_length=10, blank=True)  # Track, Track*, Attend, Act
    epss = models.FloatField(null=True, blank=True)
    kev = models.BooleanField(default=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Who fixes it: a person or a team of the tenant, at most one (apps/findings/owners.py).
    # Unchecked like the other references of this hot table; Django's deletion collector
    # clears them when the user or team goes, through the partial indexes below, which
    # imports never touch since a new finding has no owner.
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, **_UNCHECKED
    )
    owner_team = models.ForeignKey(
        "tenants.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
        related_name="owned_findings",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "application", "dedup_key"], name="finding_identity_uniq"
            ),
            models.CheckConstraint(
                condition=Q(owner_user__isnull=True) | Q(owner_team__isnull=True),
                name="finding_one_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "application", "status"], name="finding_app_status_idx"),
            models.Index(fields=["tenant", "-id"], name="finding_tenant_recent_idx"),
            models.Index(fields=["tenant", "vuln_id"], name="finding_tenant_vuln_idx"),
            models.Index(fields=["tenant", "-risk_score", "-id"], name="finding_tenant_risk_idx"),
            models.Index(
                fields=["owner_user", "-id"],
                condition=Q(owner_user__isnull=False),
                name="finding_owner_user_idx",
            ),
            models.Index(
                fields=["owner_team", "-id"],
                condition=Q(owner_team__isnull=False),
                name="finding_owner_team_idx",
            ),
            models.Index(fields=["tenant", "due_at", "id"], name="finding_tenant_due_idx"),
            # Most likely exploited first (the API's ?ordering=-epss): without it, a page of a
            # large tenant sorted every finding (1.5 s at 1M).
            models.Index(fields=["tenant", "-epss", "-id"], name="finding_tenant_epss_idx"),
            # KEV findings by risk (the dashboard's KEV tile, ?kev=): a few percent of the
            # rows, so a filtered page and its capped count read only those; imports never
            # write it (KEV comes with the risk refresh).
            models.Index(
                fields=["tenant", "-risk_score", "-id"],
                condition=Q(kev=True),
                name="finding_tenant_kev_risk_idx",
            ),
            # ?kev=true newest first: KEV rows are old ones the risk refresh marked, so walking
            # the tenant's newest rows for them read 264,000 rows (0.4 s) once imports had
            # piled non-KEV rows on top (load test, docs/operations.md).
            models.Index(
                fields=["tenant", "-id"],
                condition=Q(kev=True),
                name="finding_tenant_kev_recent_idx",
            ),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.severity} {self.title}"

    @property
    def owner(self) -> dict | None:
        """{"type": "user"|"team", "id", "name"} or None (select_related the owner fields)."""
        if self.owner_user_id is not None:
            return {
                "type": "user",
                "id": self.owner_user_id,
                "name": self.owner_user.get_username(),
            }
        if self.owner_team_id is not None:
            return {"type": "team", "id": self.owner_team_id, "name": self.owner_team.name}
        return None


class Occurrence(TenantOwned):
    """A finding as reported by one scan stream (application, tool, branch, target).

    One row per (finding, stream), updated on each scan of that stream: a stream that stops
    reporting the finding retracts its occurrence; the finding is fixed when no stream still
    reports it. Rows stay bounded however often the same report is re-imported.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, **_UNCHECKED)
    application = models.ForeignKey("findings.Application", on_delete=models.CASCADE, **_UNCHECKED)
    # Covered by the leading column of occurrence_stream_uniq.
    finding = models.ForeignKey(
        Finding, on_delete=models.CASCADE, related_name="occurrences", db_index=False
    )
    tool = models.CharField(max_length=100)
    branch = models.CharField(max_length=255, blank=True)
    # What was scanned (apps/findings/targets.py); "" for streams older than targets.
    target = models.CharField(max_length=300, blank=True, default="")
    rule_id = models.CharField(max_length=500)
    path = models.CharField(max_length=2000, blank=True)
    # The path as the tool wrote it when normalisation changed it (absolute, ../, file://).
    original_path = models.CharField(max_length=2000, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    fingerprints = models.JSONField(default=dict, blank=True)
    suppressed = models.BooleanField(default=False)
    suppression = models.CharField(max_length=500, blank=True)
    baseline_state = models.CharField(max_length=20, blank=True)
    first_scan = _scan_ref()
    last_scan = _scan_ref()
    last_seen = models.DateTimeField(default=timezone.now)
    retracted_at = models.DateTimeField(null=True, blank=True)
    retracted_by_scan = _scan_ref()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["finding", "tool", "branch", "target"], name="occurrence_stream_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["application", "tool", "branch", "target", "retracted_at"],
                name="occurrence_stream_idx",
            )
        ]

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path and self.line else self.path
        parts = [self.tool, where or self.target or self.rule_id, self.branch or "(no branch)"]
        return f"{' · '.join(parts)} (finding #{self.finding_id})"


class FindingEvent(TenantOwned):
    """One status change of a finding: who or which scan moved it, from what to what, why.

    Written by the same transaction as the change (bulk for imports). The tamper-evident,
    hash-chained audit log of the evidence work records these changes again at platform level.
    """

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, **_UNCHECKED)
    finding = models.ForeignKey(
        Finding, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    from_status = models.CharField(max_length=20, choices=FindingStatus.choices)
    to_status = models.CharField(max_length=20, choices=FindingStatus.choices)
    actor = models.CharField(max_length=150)  # "user:alice", "token:ab12…", "scan:42"
    scan = _scan_ref()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["finding", "-id"], name="finding_event_finding_idx")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.finding_id}: {self.from_status} -> {self.to_status} by {self.actor}"
