from django.urls import path

from apps.advisory.api import providers, tenant_settings

urlpatterns = [
    path(
        "advisory/providers/",
        providers.ProviderCollectionApi.as_view(),
        name="advisory-provider-list",
    ),
    path(
        "advisory/providers/<int:provider_id>/",
        providers.ProviderDetailApi.as_view(),
        name="advisory-provider-detail",
    ),
    path("advisory/usage/", providers.UsageListApi.as_view(), name="advisory-usage"),
    path(
        "advisory/settings/",
        tenant_settings.AdvisorySettingsApi.as_view(),
        name="advisory-settings",
    ),
    path(
        "advisory/schemas/triage/",
        tenant_settings.TriageSchemaApi.as_view(),
        name="advisory-schema-triage",
    ),
    path(
        "advisory/schemas/brief/",
        tenant_settings.BriefSchemaApi.as_view(),
        name="advisory-schema-brief",
    ),
]
