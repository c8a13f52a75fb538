"""Advice: one question put to every enabled provider, their answers and the consensus.

Advice is a record of what models said, never an input the platform acts on by itself: no
service changes a finding or a decision from it (docs/advisory.md, "Policy use").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.tenants.scoping import TenantOwned


class AdviceTask(models.TextChoices):
    TRIAGE = "triage", "Finding triage"
    BRIEF = "brief", "Review brief"


class AdviceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class AdviceResult(models.TextChoices):
    CONSENSUS = "consensus", "Consensus"
    SINGLE_MODEL = "single_model", "Single model"
    DISAGREEMENT = "disagreement", "Disagreement"
    NO_ANSWER = "no_answer", "No answer"


class Verdict(models.TextChoices):
    AGREE = "agree", "Agree"
    DISAGREE = "disagree", "Disagree"


class Advice(TenantOwned):
    task = models.CharField(max_length=10, choices=AdviceTask.choices)
    finding = models.ForeignKey(
        "findings.Finding", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    decision = models.ForeignKey(
        "policies.Decision", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=AdviceStatus.choices, default=AdviceStatus.PENDING
    )
    result = models.CharField(max_length=14, choices=AdviceResult.choices, blank=True)
    agreement = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    # The consensus outcome (apps/advisory/consensus.py Outcome.as_dict): per-field votes.
    outcome = models.JSONField(default=dict, blank=True)
    # Exactly what was sent, after redaction, kept for audit; the providers' tasks read the
    # question from here so every provider is asked the same thing.
    question = models.JSONField(default=dict, blank=True)
    prompt_digest = models.CharField(max_length=64)
    redacted_text = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "advice"
        indexes = [
            models.Index(fields=["tenant", "finding", "-id"], name="advice_finding_recent_idx"),
            models.Index(fields=["tenant", "decision", "-id"], name="advice_decision_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(task="triage", finding__isnull=False, decision__isnull=True)
                | models.Q(task="brief", decision__isnull=False, finding__isnull=True),
                name="advice_subject_matches_task",
            )
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        subject = (
            f"finding {self.finding_id}" if self.finding_id else f"decision {self.decision_id}"
        )
        return f"{self.get_task_display()} advice #{self.pk} on {subject}"

    @property
    def finished(self) -> bool:
        return self.status in (AdviceStatus.DONE, AdviceStatus.FAILED)


class AdviceAnswer(TenantOwned):
    """One provider's answer; its status is the adapter's (ok, failed, off_schema, timeout,
    rate_limited, over_budget) or pending while asked."""

    advice = models.ForeignKey(Advice, on_delete=models.CASCADE, related_name="answers")
    provider = models.ForeignKey(
        "advisory.Provider", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20)
    model = models.CharField(max_length=200)
    weight = models.FloatField()
    status = models.CharField(max_length=20, default="pending")
    data = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost = models.FloatField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["advice", "provider"], name="advice_answer_once")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.provider_name} ({self.model}): {self.status}"


class AdviceFeedback(TenantOwned):
    """An analyst's verdict on a piece of advice: one per person, changeable, audited."""

    advice = models.ForeignKey(Advice, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "advice feedback"
        constraints = [
            models.UniqueConstraint(fields=["advice", "user"], name="advice_feedback_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.verdict} advice {self.advice_id}"
