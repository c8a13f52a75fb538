"""Logging: one line per record on stderr, with the request id when there is one; JSON lines
with the request and trace ids when LOG_FORMAT=json (docs/operations.md, "Logs")."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from fixops.env import env

_FORMAT = env.str("LOG_FORMAT", default="line")
if _FORMAT not in ("line", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'line' or 'json', not {_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "fixops.platform.request_id.RequestIdFilter"}},
    "formatters": {
        "line": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "fixops.platform.logjson.JsonFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": _FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stderr"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
