from django.urls import path

from apps.tenants.api import teams, views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("me/tenant/", views.MeTenantSelectApi.as_view(), name="me-tenant"),
    path("tokens/", views.TokenCollectionApi.as_view(), name="token-list"),
    path("tokens/<str:prefix>/", views.TokenDetailApi.as_view(), name="token-detail"),
    path("teams/", teams.TeamCollectionApi.as_view(), name="team-list"),
    path("teams/<int:team_id>/", teams.TeamDetailApi.as_view(), name="team-detail"),
    path("tokens/<str:prefix>/rotate/", views.TokenRotateApi.as_view(), name="token-rotate"),
]
