from django.urls import path

from apps.advisory.api import advice

urlpatterns = [
    path(
        "findings/<int:finding_id>/advice/",
        advice.FindingAdviceApi.as_view(),
        name="finding-advice",
    ),
    path(
        "decisions/<int:decision_id>/brief/",
        advice.DecisionBriefApi.as_view(),
        name="decision-brief",
    ),
    path("advice/<int:advice_id>/", advice.AdviceDetailApi.as_view(), name="advice-detail"),
    path(
        "advice/<int:advice_id>/feedback/",
        advice.AdviceFeedbackApi.as_view(),
        name="advice-feedback",
    ),
]
