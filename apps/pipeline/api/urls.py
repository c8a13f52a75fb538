from django.urls import path

from apps.pipeline.api import decisions, scans

urlpatterns = [
    path("scans/", scans.ScanCollectionApi.as_view(), name="scan-list"),
    path("scans/<int:scan_id>/", scans.ScanDetailApi.as_view(), name="scan-detail"),
    path("decisions/", decisions.DecisionCollectionApi.as_view(), name="decision-list"),
    path(
        "decisions/<int:decision_id>/",
        decisions.DecisionDetailApi.as_view(),
        name="decision-detail",
    ),
]
