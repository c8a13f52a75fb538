"""Advice endpoints: request triage advice on a finding or a review brief on a decision (202 +
status URL), read one advice, the latest on a subject, and rate it.

The feature absent for the tenant (advisory off, or no enabled provider) answers 404 on every
one of them, as if the routes did not exist (apps/advisory/services.py `available`).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.reverse import reverse

from apps.advisory.advice_selectors import advice_get, advice_latest
from apps.advisory.advising import advice_feedback, advice_refresh, advice_request
from apps.advisory.models import AdviceTask, Verdict
from apps.advisory.services import available
from apps.findings.selectors import finding_get
from apps.policies.selectors import decision_get
from apps.tenants.api.base import TenantApi, actor_label
from fixops.platform.api.openapi import errors
from fixops.platform.errors import NotFound


class AnswerSerializer(serializers.Serializer):
    provider = serializers.CharField(source="provider_name")
    kind = serializers.CharField()
    model = serializers.CharField()
    weight = serializers.FloatField()
    status = serializers.CharField(
        help_text="pending, asking, ok, failed, off_schema, timeout, rate_limited, over_budget"
    )
    data = serializers.JSONField(allow_null=True, help_text="The answer, when status is ok.")
    error = serializers.CharField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.FloatField()
    latency_ms = serializers.IntegerField()


class AdviceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.ChoiceField(choices=AdviceTask.choices)
    finding_id = serializers.IntegerField(allow_null=True)
    decision_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(help_text="pending, running, done or failed")
    result = serializers.CharField(
        help_text="consensus, single_model, disagreement or no_answer (empty until done)"
    )
    agreement = serializers.FloatField(
        allow_null=True, help_text="Minimum over fields of winning weight / weight asked."
    )
    threshold = serializers.FloatField()
    outcome = serializers.JSONField(help_text="Per-field votes (docs/advisory.md).")
    answers = AnswerSerializer(many=True)
    prompt_digest = serializers.CharField(help_text="sha256 of exactly what was sent.")
    requested_by = serializers.CharField(source="requested_label")
    created_at = serializers.DateTimeField()
    deadline_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField()

    def get_url(self, advice) -> str:
        return reverse("v1:advice-detail", kwargs={"advice_id": advice.pk})


def _present(request) -> None:
    if not available(request.tenant):
        raise NotFound()


def _user(request):
    context = request.tenant_context
    return None if context.token is not None else context.user


def _accepted(advice) -> Response:
    body = AdviceSerializer(advice).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class FindingAdviceApi(TenantApi):
    scope_resource = "advisory"
    upload_throttle_methods = ("POST",)  # each request costs model tokens

    @extend_schema(
        request=None,
        responses={202: AdviceSerializer},
        summary="Ask the configured models for triage advice on a finding",
        description="Answers 202 at once; poll the advice's `url`. Advice never changes the "
        "finding. 404 when advisory is not enabled for the tenant.",
    )
    def post(self, request, finding_id: int):
        _present(request)
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        advice = advice_request(
            tenant=request.tenant,
            task=AdviceTask.TRIAGE,
            finding=finding,
            user=_user(request),
            actor=actor_label(request),
        )
        return _accepted(advice_get(tenant=request.tenant, advice_id=advice.pk))

    @extend_schema(responses=AdviceSerializer, summary="The latest advice on a finding")
    def get(self, request, finding_id: int):
        _present(request)
        finding = finding_get(tenant=request.tenant, finding_id=finding_id)
        advice = advice_latest(tenant=request.tenant, finding=finding)
        if advice is None:
            raise NotFound("No advice was asked for this finding yet.", code="no_advice")
        return Response(AdviceSerializer(advice_refresh(advice=advice)).data)


class DecisionBriefApi(TenantApi):
    scope_resource = "advisory"
    upload_throttle_methods = ("POST",)

    @extend_schema(
        request=None,
        responses={202: AdviceSerializer, **errors(400)},
        summary="Ask the configured models for a review brief of a decision",
        description="For a NEEDS_REVIEW or BLOCK decision. Answers 202 at once; poll the "
        "advice's `url`. Advice never changes the decision.",
    )
    def post(self, request, decision_id: int):
        _present(request)
        decision = decision_get(tenant=request.tenant, decision_id=decision_id)
        advice = advice_request(
            tenant=request.tenant,
            task=AdviceTask.BRIEF,
            decision=decision,
            user=_user(request),
            actor=actor_label(request),
        )
        return _accepted(advice_get(tenant=request.tenant, advice_id=advice.pk))

    @extend_schema(responses=AdviceSerializer, summary="The latest review brief of a decision")
    def get(self, request, decision_id: int):
        _present(request)
        decision = decision_get(tenant=request.tenant, decision_id=decision_id)
        advice = advice_latest(tenant=request.tenant, decision=decision)
        if advice is None:
            raise NotFound("No brief was asked for this decision yet.", code="no_advice")
        return Response(AdviceSerializer(advice_refresh(advice=advice)).data)


class AdviceDetailApi(TenantApi):
    scope_resource = "advisory"

    @extend_schema(responses=AdviceSerializer, summary="One advice: its status, then its result")
    def get(self, request, advice_id: int):
        _present(request)
        advice = advice_refresh(advice=advice_get(tenant=request.tenant, advice_id=advice_id))
        return Response(AdviceSerializer(advice).data)


class AdviceFeedbackApi(TenantApi):
    scope_resource = "advisory"

    class InputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=Verdict.choices)

    @extend_schema(
        request=InputSerializer,
        responses={200: AdviceSerializer, **errors(400)},
        summary="Agree or disagree with completed advice (a person; audited)",
    )
    def post(self, request, advice_id: int):
        _present(request)
        advice = advice_get(tenant=request.tenant, advice_id=advice_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        advice_feedback(
            advice=advice,
            user=_user(request),
            verdict=data.validated_data["verdict"],
            actor=actor_label(request),
        )
        return Response(AdviceSerializer(advice).data)
