from django.urls import path

from apps.connectors.api import drift, integrations, notification_rules, outbox

urlpatterns = [
    path(
        "integrations/",
        integrations.IntegrationCollectionApi.as_view(),
        name="integration-list",
    ),
    path(
        "integrations/kinds/",
        integrations.IntegrationKindsApi.as_view(),
        name="integration-kinds",
    ),
    path(
        "integrations/<int:integration_id>/",
        integrations.IntegrationDetailApi.as_view(),
        name="integration-detail",
    ),
    # Documented without the trailing slash; both spellings answer (a POST cannot follow
    # APPEND_SLASH's redirect).
    path(
        "integrations/<int:integration_id>/test",
        integrations.IntegrationTestApi.as_view(),
        name="integration-test",
    ),
    path(
        "integrations/<int:integration_id>/test/",
        integrations.IntegrationTestAliasApi.as_view(),
        name="integration-test-slash",
    ),
    path(
        "integrations/<int:integration_id>/sync",
        integrations.IntegrationSyncApi.as_view(),
        name="integration-sync",
    ),
    path(
        "integrations/<int:integration_id>/sync/",
        integrations.IntegrationSyncAliasApi.as_view(),
        name="integration-sync-slash",
    ),
    path(
        "integrations/<int:integration_id>/drift/",
        drift.DriftCollectionApi.as_view(),
        name="integration-drift",
    ),
    # Documented with the trailing slash; both spellings answer.
    path(
        "integrations/<int:integration_id>/rotate-webhook-secret/",
        integrations.IntegrationRotateWebhookSecretApi.as_view(),
        name="integration-rotate-webhook-secret",
    ),
    path(
        "integrations/<int:integration_id>/rotate-webhook-secret",
        integrations.IntegrationRotateWebhookSecretAliasApi.as_view(),
        name="integration-rotate-webhook-secret-no-slash",
    ),
    path("outbox/", outbox.OutboxCollectionApi.as_view(), name="outbox-list"),
    path("outbox/<int:message_id>/", outbox.OutboxDetailApi.as_view(), name="outbox-detail"),
    path(
        "outbox/<int:message_id>/replay/",
        outbox.OutboxReplayApi.as_view(),
        name="outbox-replay",
    ),
    path(
        "outbox/<int:message_id>/cancel/",
        outbox.OutboxCancelApi.as_view(),
        name="outbox-cancel",
    ),
    path(
        "notification-rules/",
        notification_rules.NotificationRuleCollectionApi.as_view(),
        name="notification-rule-list",
    ),
    path(
        "notification-rules/<int:rule_id>/",
        notification_rules.NotificationRuleDetailApi.as_view(),
        name="notification-rule-detail",
    ),
]
