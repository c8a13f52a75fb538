"""Integrations: /api/v1/integrations/ (admins write, viewers read; credentials write-only),
plus /test (ask the vendor), /sync (push what is not in sync, answer the counts) and
/rotate-webhook-secret/ (a new inbound webhook secret, shown once)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.connectors.inbound.receive import webhook_url
from apps.connectors.models import Grouping
from apps.connectors.registry import SPECS, Kind, connector_class
from apps.connectors.schema import describe
from apps.connectors.selectors import (
    integration_get,
    integration_health,
    integration_list,
    queue_depths,
)
from apps.connectors.services import (
    integration_create,
    integration_delete,
    integration_rotate_webhook_secret,
    integration_sync,
    integration_test,
    integration_update,
)
from apps.findings.models import Severity
from apps.tenants.api.base import TenantApi, actor_label
from apps.tenants.roles import Role
from fixops.platform.api.openapi import errors
from fixops.platform.api.pagination import PagePagination

ADMIN_WRITES = {"POST": Role.ADMIN, "PUT": Role.ADMIN, "PATCH": Role.ADMIN, "DELETE": Role.ADMIN}


class QueueSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    in_flight = serializers.IntegerField()
    failed = serializers.IntegerField()
    dead = serializers.IntegerField()


class HealthSerializer(serializers.Serializer):
    breaker_state = serializers.CharField(help_text="closed, open or half_open")
    breaker_failures = serializers.IntegerField()
    breaker_until = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_failure_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    queue = QueueSerializer()


class IntegrationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    base_url = serializers.CharField()
    has_credentials = serializers.SerializerMethodField()
    settings = serializers.DictField()
    min_severity = serializers.CharField()
    min_risk = serializers.FloatField(allow_null=True)
    grouping = serializers.CharField()
    templates = serializers.DictField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    webhook_url = serializers.SerializerMethodField(
        help_text="Where the vendor delivers webhooks (absolute when FIXOPS_PUBLIC_URL is set)."
    )
    webhook_url_warning = serializers.SerializerMethodField(
        help_text="Non-empty when webhook_url is relative: what to configure."
    )
    has_webhook_secret = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    issued_credentials = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text=(
            "Only in the answer that created the integration: credentials FixOps generated "
            "(a signed webhook's signing_secret). Shown once; store it now."
        ),
    )

    def get_has_credentials(self, obj) -> bool:
        return bool(obj.credentials_token)

    def get_webhook_url(self, obj) -> str:
        return webhook_url(obj)[0]

    def get_webhook_url_warning(self, obj) -> str:
        return webhook_url(obj)[1]

    def get_has_webhook_secret(self, obj) -> bool:
        return bool(obj.webhook_secret_token)

    @extend_schema_field(HealthSerializer)
    def get_health(self, obj) -> dict:
        depths = self.context.get("depths") or {}
        return HealthSerializer(integration_health(obj, depths.get(obj.pk))).data


class IntegrationCreatedSerializer(IntegrationOutputSerializer):
    webhook_secret = serializers.CharField(
        help_text=(
            "The inbound webhook secret, shown only in this answer (and on rotation); empty "
            "for Slack, whose signing secret is a credential."
        )
    )


class WebhookSecretSerializer(serializers.Serializer):
    webhook_secret = serializers.CharField(help_text="Shown once.")
    webhook_url = serializers.CharField()
    webhook_url_warning = serializers.CharField()


class IntegrationInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    name = serializers.CharField(max_length=200)
    base_url = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="The vendor's URL; required by every kind but email, which sends through the "
        "server's SMTP settings.",
    )
    credentials = serializers.DictField(
        help_text="Write-only; e.g. Jira Cloud {email, api_token}. Never returned."
    )
    settings = serializers.DictField(required=False)
    min_severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    min_risk = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=100)
    grouping = serializers.ChoiceField(choices=Grouping.choices, required=False)
    templates = serializers.DictField(child=serializers.CharField(), required=False)
    enabled = serializers.BooleanField(required=False)


def _out(integrations, many: bool = False):
    items = integrations if many else [integrations]
    depths = queue_depths([i.pk for i in items])
    return IntegrationOutputSerializer(integrations, many=many, context={"depths": depths}).data


class IntegrationCollectionApi(TenantApi):
    scope_resource = "integrations"
    pagination_class = PagePagination
    role_map = ADMIN_WRITES

    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Kind.choices, required=False)
        enabled = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=IntegrationOutputSerializer(many=True),
        summary="List integrations with their health",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        qs = integration_list(tenant=request.tenant, filters=filters.validated_data)
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(_out(page, many=True))

    @extend_schema(
        request=IntegrationInputSerializer,
        responses={201: IntegrationCreatedSerializer, **errors(409)},
        summary="Configure an integration (admin); the answer shows its webhook secret once",
    )
    def post(self, request):
        data = IntegrationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        integration = integration_create(
            tenant=request.tenant, actor=actor_label(request), **data.validated_data
        )
        body = {**_out(integration), "webhook_secret": integration.webhook_secret}
        return Response(body, status=status.HTTP_201_CREATED)


class IntegrationDetailApi(TenantApi):
    scope_resource = "integrations"
    role_map = ADMIN_WRITES

    @extend_schema(responses=IntegrationOutputSerializer, summary="One integration")
    def get(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        return Response(_out(integration))

    @extend_schema(
        request=IntegrationInputSerializer,
        responses={200: IntegrationOutputSerializer, **errors(409)},
        summary="Replace an integration's fields (admin)",
    )
    def put(self, request, integration_id: int):
        return self._update(request, integration_id, partial=False)

    @extend_schema(
        request=IntegrationInputSerializer(partial=True),
        responses={200: IntegrationOutputSerializer, **errors(409)},
        summary="Change some fields (admin); credentials only when given",
    )
    def patch(self, request, integration_id: int):
        return self._update(request, integration_id, partial=True)

    @extend_schema(responses={204: None}, summary="Delete an integration and its queue (admin)")
    def delete(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        integration_delete(integration=integration, actor=actor_label(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, integration_id: int, *, partial: bool):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        data = IntegrationInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        integration = integration_update(
            integration=integration, actor=actor_label(request), **data.validated_data
        )
        return Response(_out(integration))


class ConfigFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    # "in" is a Python keyword: the field is declared below under its JSON name.
    type = serializers.ChoiceField(choices=["text", "url", "choice", "integer", "list", "mapping"])
    required = serializers.BooleanField(
        help_text="Settings: must be given. Credentials: see credential_sets."
    )
    secret = serializers.BooleanField(help_text="Write-only: never returned.")
    help = serializers.CharField()
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    default = serializers.JSONField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["in"] = serializers.ChoiceField(
            choices=["credentials", "settings"], help_text="Where the value goes."
        )
        return fields


class KindOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    tracker = serializers.BooleanField(help_text="Opens tickets for findings.")
    base_url_help = serializers.CharField()
    credential_sets = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Accepted credential sets: any one must be complete.",
    )
    fields = ConfigFieldSerializer(many=True)


class IntegrationKindsApi(TenantApi):
    """What each kind of integration takes: the connectors' declared configuration."""

    scope_resource = "integrations"

    @extend_schema(
        responses=KindOutputSerializer(many=True),
        summary="Integration kinds with their credentials and settings",
    )
    def get(self, request):
        kinds = [
            {
                "kind": spec.kind,
                "label": spec.label,
                "tracker": spec.tracker,
                "base_url_help": connector_class(spec.kind).base_url_help,
                "credential_sets": [list(s) for s in connector_class(spec.kind).credential_sets],
                "fields": describe(connector_class(spec.kind).all_fields()),
            }
            for spec in SPECS
        ]
        return Response(KindOutputSerializer(kinds, many=True).data)


class IntegrationTestApi(TenantApi):
    """Check the stored credentials against the vendor."""

    scope_resource = "integrations"
    role_map = ADMIN_WRITES

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "IntegrationTestResult",
                {"ok": serializers.BooleanField(), "message": serializers.CharField()},
            ),
            **errors(502),
        },
        summary="Test the connection (502 with the vendor's message on failure)",
    )
    def post(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        message = integration_test(integration=integration, actor=actor_label(request))
        return Response({"ok": True, "message": message})


class OutOfSyncSerializer(serializers.Serializer):
    pending = serializers.IntegerField(help_text="Waiting for a first attempt or in delivery")
    retrying = serializers.IntegerField(help_text="Failed; waiting for their next attempt")
    dead = serializers.IntegerField(help_text="Given up on; replay them from the outbox")
    breaker_open = serializers.IntegerField(
        help_text="Waiting because the integration's breaker is open (not in pending/retrying)"
    )
    drift = serializers.IntegerField(help_text="Open drift found by reconciliation")


class SyncResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Messages written by this sync")
    delivered = serializers.IntegerField(
        help_text="Messages delivered while the sync ran (by it or by a worker)"
    )
    failed = serializers.IntegerField(help_text="Messages whose attempt during the sync failed")
    out_of_sync = OutOfSyncSerializer(help_text="What is still not in sync afterwards")


class IntegrationSyncApi(TenantApi):
    """Push everything not yet in sync for this integration, now."""

    scope_resource = "integrations"
    role_map = ADMIN_WRITES

    @extend_schema(
        request=None,
        responses={
            200: SyncResultSerializer,
        },
        summary="Sync: enqueue what is missing, deliver it, answer what is still out of sync",
    )
    def post(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        answer = integration_sync(integration=integration, actor=actor_label(request))
        return Response(SyncResultSerializer(answer).data)


class IntegrationRotateWebhookSecretApi(TenantApi):
    """A new inbound webhook secret; deliveries signed with the old one are refused."""

    scope_resource = "integrations"
    role_map = ADMIN_WRITES

    @extend_schema(
        request=None,
        responses={200: WebhookSecretSerializer, **errors(409)},
        summary="Rotate the webhook secret (admin); the answer shows the new one once",
    )
    def post(self, request, integration_id: int):
        integration = integration_get(tenant=request.tenant, integration_id=integration_id)
        secret = integration_rotate_webhook_secret(
            integration=integration, actor=actor_label(request)
        )
        url, warning = webhook_url(integration)
        body = {"webhook_secret": secret, "webhook_url": url, "webhook_url_warning": warning}
        return Response(WebhookSecretSerializer(body).data)


@extend_schema(exclude=True)
class IntegrationRotateWebhookSecretAliasApi(IntegrationRotateWebhookSecretApi):
    pass


# The trailing-slash spellings answer too (house style elsewhere); documented once, without.
@extend_schema(exclude=True)
class IntegrationTestAliasApi(IntegrationTestApi):
    pass


@extend_schema(exclude=True)
class IntegrationSyncAliasApi(IntegrationSyncApi):
    pass
