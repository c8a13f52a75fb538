from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from apps.tenants.accounts import views as accounts_views
from fixops import health, observability
from fixops.platform.api.docs import DocsView, SchemaView

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.metrics_view, name="metrics"),
    path("api/v1/", include(("fixops.api_urls", "v1"), namespace="v1")),
    # Vendor webhooks (apps/connectors/api/hooks.py): signed by the vendor, no session.
    path("hooks/", include(("apps.connectors.api.hooks", "hooks"), namespace="hooks")),
    # Authenticated callers only unless FIXOPS_PUBLIC_API_DOCS; the split Swagger view serves
    # its initialiser as a file: no inline script under the CSP.
    path("api/schema/", SchemaView.as_view(api_version="v1"), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="api-docs"),
    # Sign-in (apps/tenants/accounts): the admin's login and logout go through it too, so a
    # local account always needs its second factor.
    path("accounts/", include("apps.tenants.accounts.urls")),
    path("saml2/", include("apps.tenants.sso.urls")),
    path("admin/login/", accounts_views.admin_login_redirect),
    path("admin/logout/", accounts_views.logout_view),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

handler404 = "fixops.platform.api.errors.page_not_found"
handler500 = "fixops.platform.api.errors.server_error"
