from django.urls import path

from apps.pipeline.api import scans

urlpatterns = [
    path("scans/", scans.ScanCollectionApi.as_view(), name="scan-list"),
    path("scans/<int:scan_id>/", scans.ScanDetailApi.as_view(), name="scan-detail"),
]
