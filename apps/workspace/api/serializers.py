"""Output serializers of the analytics API: the schema of what apps/workspace/selectors.py
returns (docs/workspace.md, "Analytics API")."""

from __future__ import annotations

from rest_framework import serializers


class BySeveritySerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    info = serializers.IntegerField()


class OpenSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        help_text="Open findings (open, triaged, in progress, reopened)."
    )
    by_severity = BySeveritySerializer()
    kev = BySeveritySerializer(help_text="Open findings in CISA's KEV catalog, per severity.")


class KevSerializer(serializers.Serializer):
    open_findings = serializers.IntegerField()
    overdue_findings = serializers.IntegerField(help_text="Open KEV findings past their SLA.")
    applications = serializers.IntegerField(help_text="Applications with an open KEV finding.")


class ByStateSerializer(serializers.Serializer):
    on_time = serializers.IntegerField()
    due_soon = serializers.IntegerField()
    overdue = serializers.IntegerField()
    paused = serializers.IntegerField()


class ComplianceSerializer(serializers.Serializer):
    due_soon_days = serializers.IntegerField()
    open = serializers.IntegerField(help_text="Findings that need work, paused ones included.")
    by_state = ByStateSerializer()
    on_time_percent = serializers.FloatField(
        allow_null=True,
        help_text="Open findings not overdue, in percent of those whose clock runs (paused "
        "ones apart); null when there are none.",
    )


class MttrEntrySerializer(serializers.Serializer):
    closed = serializers.IntegerField()
    mean_days = serializers.FloatField(allow_null=True)
    median_days = serializers.FloatField(allow_null=True)


class MttrBySeveritySerializer(serializers.Serializer):
    critical = MttrEntrySerializer()
    high = MttrEntrySerializer()
    medium = MttrEntrySerializer()
    low = MttrEntrySerializer()
    info = MttrEntrySerializer()


class MttrSerializer(serializers.Serializer):
    window_days = serializers.IntegerField(help_text="Findings closed in the last N days.")
    by_severity = MttrBySeveritySerializer()
    all = MttrEntrySerializer()


class TrendTotalsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField(help_text="The week's Monday (UTC).")
    ALLOW = serializers.IntegerField()
    NEEDS_REVIEW = serializers.IntegerField()
    BLOCK = serializers.IntegerField()


class DecisionsSerializer(serializers.Serializer):
    weeks = serializers.IntegerField()
    since = serializers.DateField(allow_null=True)
    by_outcome = serializers.DictField(child=serializers.IntegerField())
    by_week = WeekSerializer(many=True)


class RiskyApplicationSerializer(serializers.Serializer):
    application_id = serializers.IntegerField()
    name = serializers.CharField()
    open = serializers.IntegerField()
    kev = serializers.IntegerField()
    risk_sum = serializers.FloatField()
    risk_max = serializers.FloatField(allow_null=True)


class NoiseSerializer(serializers.Serializer):
    window_days = serializers.IntegerField()
    results_received = serializers.IntegerField()
    findings_kept = serializers.IntegerField()
    noise_reduction = serializers.FloatField(
        allow_null=True,
        help_text="1 - findings_kept / results_received (0..1); null without results.",
    )


class FeedSerializer(serializers.Serializer):
    name = serializers.CharField()
    last_success = serializers.DateTimeField(allow_null=True)
    age_hours = serializers.FloatField(allow_null=True)
    fresh = serializers.BooleanField()
    version = serializers.CharField()
    last_error = serializers.CharField()


class FeedsSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    max_age_hours = serializers.IntegerField()
    stale = serializers.IntegerField()
    feeds = FeedSerializer(many=True)


class SummarySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(help_text="When these numbers were computed.")
    open = OpenSerializer()
    ssvc = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Open findings per SSVC decision (Act, Attend, Track*, Track; none: not "
        "assessed).",
    )
    kev = KevSerializer()
    sla = ComplianceSerializer()
    mttr = MttrSerializer()
    trend = TrendTotalsSerializer()
    decisions = DecisionsSerializer()
    riskiest_applications = RiskyApplicationSerializer(many=True)
    noise = NoiseSerializer()
    feeds = FeedsSerializer()


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()


class TrendsSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    days = serializers.IntegerField()
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()
    daily = DaySerializer(many=True)
    decisions_by_week = WeekSerializer(many=True)


class ApplicationComplianceSerializer(serializers.Serializer):
    application_id = serializers.IntegerField()
    name = serializers.CharField()
    open = serializers.IntegerField()
    by_state = ByStateSerializer()
    on_time_percent = serializers.FloatField(allow_null=True)


class SlaSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    total = ComplianceSerializer()
    applications = ApplicationComplianceSerializer(many=True)
