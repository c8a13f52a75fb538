"""The product's two flows, and the only place that composes apps.

`ingest` (upload → parse → write → score → match → announce) and `gate` (input → evaluate →
persist → sign → announce) each own their transaction and the work after commit. The scans and
decisions endpoints and their Celery tasks live here; domain apps below expose services and
selectors and never call upward (docs/architecture.md).
"""
