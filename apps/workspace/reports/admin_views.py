"""The reports in the admin: download buttons on an application's page, on a tenant's page
and on the applications list (the tenant the user acts in). Same documents and formats as
the API; staff need the viewer role in the report's tenant (superusers: any tenant), and
another tenant's application or tenant is a 404 like a missing one."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from apps.findings.models import Application
from apps.tenants.admin_scoping import admin_tenant_ids, scope_to_tenants
from apps.tenants.models import Tenant
from apps.workspace.reports import formats
from apps.workspace.reports.document import report_application, report_tenant
from fixops.platform.errors import Unavailable


def report_urls(site) -> list:
    """The admin URLs of the reports, wrapped by `site` (staff sign-in required)."""
    return [
        path(
            "reports/applications/<int:application_id>/<str:fmt>/",
            site.admin_view(lambda r, **kw: application_report(site, r, **kw)),
            name="workspace_report_application",
        ),
        path(
            "reports/tenants/<int:tenant_id>/<str:fmt>/",
            site.admin_view(tenant_report),
            name="workspace_report_tenant",
        ),
        path(
            "reports/tenant/<str:fmt>/",
            site.admin_view(current_tenant_report),
            name="workspace_report_current",
        ),
    ]


def application_report(site, request, application_id: int, fmt: str) -> HttpResponse:
    """One application's report, in the tenant that holds it."""
    _check_format(fmt)
    rows = scope_to_tenants(site, request, Application, Application.objects.all())
    application = rows.select_related("tenant").filter(pk=application_id).first()
    if application is None:
        raise Http404("No such application.")
    document = report_application(
        tenant=application.tenant, application=application, link=request.build_absolute_uri
    )
    return _download(request, document, fmt)


def tenant_report(request, tenant_id: int, fmt: str) -> HttpResponse:
    """A tenant's report, for a tenant the user acts in."""
    _check_format(fmt)
    allowed = admin_tenant_ids(request)
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or (allowed is not None and tenant.pk not in allowed):
        raise Http404("No such tenant.")
    return _download(request, report_tenant(tenant=tenant, link=request.build_absolute_uri), fmt)


def current_tenant_report(request, fmt: str) -> HttpResponse:
    """The report of the tenant the user acts in (the header's switcher); superusers act in
    every tenant, so they are sent to the tenants list to pick one."""
    _check_format(fmt)
    allowed = admin_tenant_ids(request)
    if allowed is None:
        messages.info(request, "Open a tenant's page to download its report.")
        return HttpResponseRedirect(reverse("admin:tenants_tenant_changelist"))
    if not allowed:
        raise Http404("You act in no tenant.")
    return tenant_report(request, tenant_id=allowed[0], fmt=fmt)


def _check_format(fmt: str) -> None:
    if fmt not in formats.FORMATS:
        raise Http404(f"Reports come as {', '.join(formats.FORMATS)}.")


def _download(request, document: dict, fmt: str) -> HttpResponse:
    if fmt == "pdf":
        try:
            body: bytes | str = formats.to_pdf(document)
        except Unavailable as exc:  # Pango missing on this server
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:index"))
        content_type = "application/pdf"
    elif fmt == "csv":
        body, content_type = formats.to_csv(document), "text/csv; charset=utf-8"
    else:
        body, content_type = formats.to_html(document), "text/html; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = formats.content_disposition(document, fmt)
    return response
