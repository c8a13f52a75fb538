"""Scans read as what they are: "semgrep scan #11 · payments-api · main", in the list, the
page title and the breadcrumbs (the findings app's ScanAdmin otherwise)."""

from __future__ import annotations

from django.contrib import admin

from apps.findings.admin import ScanAdmin
from apps.findings.models import Scan


def scan_title(scan: Scan) -> str:
    """The tool (else the report format), the scan's number, its application, branch and
    target when known."""
    parts = [f"{scan.tool_name or scan.format or 'unknown'} scan #{scan.pk}"]
    parts.append(scan.application.name)
    parts += [value for value in (scan.branch, scan.target) if value]
    return " · ".join(parts)


class ScanTitledAdmin(ScanAdmin):
    list_display = ("title", *(c for c in ScanAdmin.list_display if c != "id"))
    list_display_links = ("title",)

    @admin.display(description="scan", ordering="-id")
    def title(self, scan: Scan) -> str:
        return scan_title(scan)

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is not None:
            context["subtitle"] = context["scan_title"] = scan_title(obj)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)


if admin.site.is_registered(Scan):
    admin.site.unregister(Scan)
admin.site.register(Scan, ScanTitledAdmin)
