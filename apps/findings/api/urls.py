from django.urls import path

from apps.findings.api import applications, comments, findings, owners, streams

urlpatterns = [
    path("applications/", applications.ApplicationCollectionApi.as_view(), name="application-list"),
    path(
        "applications/<int:application_id>/",
        applications.ApplicationDetailApi.as_view(),
        name="application-detail",
    ),
    path(
        "applications/<int:application_id>/sla/",
        applications.ApplicationSlaApi.as_view(),
        name="application-sla",
    ),
    path("findings/", findings.FindingCollectionApi.as_view(), name="finding-list"),
    path("findings/<int:finding_id>/", findings.FindingDetailApi.as_view(), name="finding-detail"),
    path(
        "findings/<int:finding_id>/transition/",
        findings.FindingTransitionApi.as_view(),
        name="finding-transition",
    ),
    path(
        "findings/bulk-assign/", owners.FindingBulkAssignApi.as_view(), name="finding-bulk-assign"
    ),
    path(
        "findings/<int:finding_id>/assign/",
        owners.FindingAssignApi.as_view(),
        name="finding-assign",
    ),
    path(
        "findings/<int:finding_id>/comments/",
        comments.FindingCommentCollectionApi.as_view(),
        name="finding-comment-list",
    ),
    path(
        "findings/<int:finding_id>/comments/<int:comment_id>/",
        comments.FindingCommentDetailApi.as_view(),
        name="finding-comment-detail",
    ),
    path("streams/", streams.StreamCollectionApi.as_view(), name="stream-list"),
    path("streams/retire/", streams.StreamRetireApi.as_view(), name="stream-retire"),
]
