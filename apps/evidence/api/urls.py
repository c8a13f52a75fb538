from django.urls import path

from apps.evidence.api import views

urlpatterns = [
    path("evidence/", views.EvidenceCollectionApi.as_view(), name="evidence-list"),
    path("evidence/keys", views.EvidenceKeysApi.as_view(), name="evidence-keys"),
    path("evidence/export", views.EvidenceExportApi.as_view(), name="evidence-export"),
    path("evidence/<int:evidence_id>/", views.EvidenceDetailApi.as_view(), name="evidence-detail"),
    path(
        "evidence/<int:evidence_id>/bundle",
        views.EvidenceBundleApi.as_view(),
        name="evidence-bundle",
    ),
    path(
        "evidence/<int:evidence_id>/verify",
        views.EvidenceVerifyApi.as_view(),
        name="evidence-verify",
    ),
    path("audit/", views.AuditEventCollectionApi.as_view(), name="audit-list"),
]
