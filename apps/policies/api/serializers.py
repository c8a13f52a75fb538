"""Serializers shared by the policy, decision and acceptance endpoints."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.reverse import reverse


class ReasonSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["deny", "review", "warn"])
    rule = serializers.CharField()
    message = serializers.CharField()
    finding_ids = serializers.ListField(child=serializers.IntegerField())


class PolicyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="policy_id")
    name = serializers.CharField(source="policy.name")
    version = serializers.IntegerField(source="number")
    digest = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.CharField()
    confidence = serializers.FloatField(help_text="Completeness and freshness of the inputs.")
    confidence_detail = serializers.DictField()
    reasons = ReasonSerializer(many=True)
    policy = PolicyRefSerializer(source="policy_version")
    counts = serializers.DictField()
    application = serializers.CharField(source="application.name")
    application_id = serializers.IntegerField()
    commit = serializers.CharField()
    branch = serializers.CharField()
    pipeline_run = serializers.CharField()
    scans = serializers.SerializerMethodField()
    engine = serializers.CharField()
    input_digest = serializers.CharField()
    shadow = serializers.ListField(child=serializers.DictField())
    timings_ms = serializers.DictField()
    requested_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.SerializerMethodField()
    evidence_url = serializers.SerializerMethodField()

    def get_scans(self, decision) -> list[int]:
        return sorted(s.pk for s in decision.scans.all())

    def get_url(self, decision) -> str:
        return reverse("v1:decision-detail", kwargs={"decision_id": decision.pk})

    def get_evidence_url(self, decision) -> str | None:
        return evidence_url(decision)


def evidence_url(decision) -> str | None:
    """The signed bundle of the decision (apps/evidence)."""
    bundle = getattr(decision, "evidence", None)
    if bundle is None:
        return None
    return reverse("v1:evidence-bundle", kwargs={"evidence_id": bundle.pk})
