from django.urls import path

from apps.pipeline.api import decisions

urlpatterns = [
    path("decisions/", decisions.DecisionCollectionApi.as_view(), name="decision-list"),
    path(
        "decisions/<int:decision_id>/",
        decisions.DecisionDetailApi.as_view(),
        name="decision-detail",
    ),
]
