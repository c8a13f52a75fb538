"""OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md,
"Tracing"). When on, Django requests, Celery publishes and runs, psycopg queries and outbound
requests are spans of one trace: an upload's request, the worker's import it queued, the
outbox drain that import triggered and the vendor call it made share a trace id (Celery
carries the context in the task's headers).

The exporter is OTLP over HTTP, configured by the standard OTEL_* variables
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, ...); tests pass
the SDK's in-memory exporter instead.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_installed: list[TracerProvider] = []  # at most one per process


def configure(
    *, service: str, endpoint: str = "", exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Install the tracer provider and the instrumentations, once per process. Does nothing
    (returns None) without an `endpoint` or an `exporter`.

    The SDK, the exporter and the instrumentations are imported here, not with the module:
    they take about half a second to import, which every web worker, Celery worker and
    management command would pay with tracing off."""
    if not endpoint and exporter is None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    with _lock:
        if _installed:
            return _installed[0]
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
        if exporter is not None:  # tests: spans are there as soon as they end
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        django, celery, psycopg, requests = _instrumentors()
        django.instrument(tracer_provider=provider)
        celery.instrument(tracer_provider=provider)
        psycopg.instrument(tracer_provider=provider, skip_dep_check=True)
        requests.instrument(tracer_provider=provider)
        _installed.append(provider)
        logger.info("tracing on: service %s", service)
        return provider


def current_ids() -> tuple[str, str]:
    """(trace id, span id) of the span in progress as hex, or ("", "") outside any."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def shutdown() -> None:
    """Flush and remove what `configure` installed (process exit; tests that traced)."""
    with _lock:
        if not _installed:
            return
        for instrumentor in _instrumentors():
            instrumentor.uninstrument()
        _installed.pop().shutdown()


def _instrumentors() -> list:
    """Django, Celery, psycopg and requests (each a process-wide singleton)."""
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    return [
        DjangoInstrumentor(),
        CeleryInstrumentor(),
        PsycopgInstrumentor(),
        RequestsInstrumentor(),
    ]
