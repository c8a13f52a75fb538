"""What a process loads at start: a web worker, a Celery worker or a management command pays
for every module imported before its first request or task, so the heavy libraries only some
of them need load on first use (docs/operations.md, "Start-up")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Loaded on first use only: WeasyPrint and Pango by the first PDF (apps/workspace/reports/
# pdf.py), the OpenTelemetry SDK only with tracing on (fixops/platform/tracing.py), pysaml2's
# responses, signatures and XML schemas by the first SAML request (apps/tenants/sso/urls.py).
ON_FIRST_USE = (
    "weasyprint",
    "opentelemetry.sdk",
    "opentelemetry.instrumentation.django",
    "djangosaml2.views",
    "saml2.response",
    "saml2.xml.schema",
)

STARTED = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # the URL configuration, as the first request loads it
import fixops.celery  # the Celery app, as a worker and the web's task publishing load it
import fixops.wsgi  # the web application, as gunicorn loads it
from django.contrib.auth import get_backends
get_backends()  # every authentication backend, as the first permission check loads them
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after_start(**env: str) -> set[str]:
    environment = {k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    environment.update(DJANGO_SETTINGS_MODULE="fixops.settings.test", **env)
    done = subprocess.run(
        [sys.executable, "-c", STARTED],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_heavy_libraries_are_not_loaded_at_start():
    loaded = _modules_after_start()
    assert "django.contrib.admin" in loaded and "celery" in loaded  # it really started
    early = sorted(name for name in ON_FIRST_USE if name in loaded)
    assert not early, f"loaded at start, not on first use: {early}"


def test_tracing_on_loads_the_sdk():
    loaded = _modules_after_start(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert "opentelemetry.sdk" in loaded
