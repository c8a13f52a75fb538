"""SAML endpoints: djangosaml2's login and metadata views, and our ACS (404 without a SAML
provider)."""

from django.urls import path

from apps.tenants.sso.saml import SamlAcsView, SamlLoginView, SamlMetadataView

urlpatterns = [
    path("login/", SamlLoginView.as_view(), name="saml2_login"),
    path("acs/", SamlAcsView.as_view(), name="saml2_acs"),
    path("metadata/", SamlMetadataView.as_view(), name="saml2_metadata"),
]
