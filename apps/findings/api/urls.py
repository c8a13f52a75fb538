from django.urls import path

from apps.findings.api import applications

urlpatterns = [
    path("applications/", applications.ApplicationCollectionApi.as_view(), name="application-list"),
    path(
        "applications/<int:application_id>/",
        applications.ApplicationDetailApi.as_view(),
        name="application-detail",
    ),
]
