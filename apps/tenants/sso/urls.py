"""SAML endpoints: djangosaml2's login and metadata views, and our ACS."""

from django.urls import path
from djangosaml2 import views as saml_views

from apps.tenants.sso.saml import SamlAcsView, SamlLoginView

urlpatterns = [
    path("login/", SamlLoginView.as_view(), name="saml2_login"),
    path("acs/", SamlAcsView.as_view(), name="saml2_acs"),
    path("metadata/", saml_views.MetadataView.as_view(), name="saml2_metadata"),
]
