from django.urls import path

from apps.policies.api import acceptances, policies

urlpatterns = [
    path("policies/", policies.PolicyCollectionApi.as_view(), name="policy-list"),
    path("policies/validate/", policies.PolicyValidateApi.as_view(), name="policy-validate"),
    path("policies/<int:policy_id>/", policies.PolicyDetailApi.as_view(), name="policy-detail"),
    path(
        "policies/<int:policy_id>/versions/",
        policies.PolicyVersionCollectionApi.as_view(),
        name="policy-versions",
    ),
    path(
        "policies/<int:policy_id>/activate/",
        policies.PolicyActivateApi.as_view(),
        name="policy-activate",
    ),
    path(
        "policies/<int:policy_id>/simulate/",
        policies.PolicySimulateApi.as_view(),
        name="policy-simulate",
    ),
    # Documented without the slash too; a POST cannot follow APPEND_SLASH's redirect.
    path(
        "policies/<int:policy_id>/simulate",
        policies.PolicySimulateAliasApi.as_view(),
        name="policy-simulate-noslash",
    ),
    path(
        "policy-assignments/",
        policies.AssignmentCollectionApi.as_view(),
        name="policy-assignment-list",
    ),
    path(
        "policy-assignments/<int:assignment_id>/",
        policies.AssignmentDetailApi.as_view(),
        name="policy-assignment-detail",
    ),
    path("acceptances/", acceptances.AcceptanceCollectionApi.as_view(), name="acceptance-list"),
    path(
        "acceptances/<int:acceptance_id>/",
        acceptances.AcceptanceDetailApi.as_view(),
        name="acceptance-detail",
    ),
    path(
        "acceptances/<int:acceptance_id>/approve/",
        acceptances.AcceptanceApproveApi.as_view(),
        name="acceptance-approve",
    ),
    path(
        "acceptances/<int:acceptance_id>/reject/",
        acceptances.AcceptanceRejectApi.as_view(),
        name="acceptance-reject",
    ),
    path(
        "acceptances/<int:acceptance_id>/revoke/",
        acceptances.AcceptanceRevokeApi.as_view(),
        name="acceptance-revoke",
    ),
]
