"""System checks of the read side: the PDF reports' native dependencies."""

from __future__ import annotations

from django.core import checks

from apps.workspace.reports import pdf


@checks.register()
def pdf_reports(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    reason = pdf.missing()  # imports WeasyPrint: a check is where loading it belongs
    if reason is None:
        return []
    return [
        checks.Warning(
            f"PDF reports are unavailable: {reason}",
            hint="Debian/Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "libharfbuzz-subset0 fonts-dejavu-core. HTML and CSV reports work without them.",
            id="fixops.W150",
        )
    ]
