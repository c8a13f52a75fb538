"""SAML endpoints: djangosaml2's login and metadata views, and our ACS (404 without a SAML
provider).

The views are loaded on the first request to one of them (apps/tenants/sso/saml_views.py:
pysaml2 takes about a second to import), so the URL configuration, which every web worker,
and any process that reverses a URL, loads, does not pay for SAML that may never be used.
"""

from __future__ import annotations

import functools

from django.urls import path
from django.views.decorators.csrf import csrf_exempt


def _on_first_request(name: str):
    """A view that loads saml_views' view class `name` when first called."""

    @functools.cache
    def load():
        from apps.tenants.sso import saml_views  # noqa: PLC0415 - the point of this wrapper

        return getattr(saml_views, name).as_view()

    def view(request, *args, **kwargs):
        return load()(request, *args, **kwargs)

    return view


urlpatterns = [
    path("login/", _on_first_request("SamlLoginView"), name="saml2_login"),
    # The IdP's page posts the response here: no CSRF token can come with it. The signed,
    # audience-bound, single-use assertion is what the ACS trusts.
    path("acs/", csrf_exempt(_on_first_request("SamlAcsView")), name="saml2_acs"),
    path("metadata/", _on_first_request("SamlMetadataView"), name="saml2_metadata"),
]
