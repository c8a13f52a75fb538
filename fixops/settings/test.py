"""Test settings: the real PostgreSQL, a fast hasher, no network beyond 127.0.0.1."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Tests run against PostgreSQL unless told otherwise (the embedded SQLite default is for
# `make run`); set before base reads the environment.
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fixops")

from fixops.settings.base import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# A name of its own lets benchmarks and a second suite run beside the first one.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("FIXOPS_TEST_DB", "test_fixops")}  # noqa: F405
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The fake vendor servers (tests/fakes/) listen on 127.0.0.1.
FIXOPS_OUTBOUND_ALLOWLIST = ["127.0.0.1/32"]
# Evidence files are write-once and retained for years: tests keep theirs out of var/.
FIXOPS_EVIDENCE_DIR = Path(tempfile.gettempdir()) / "fixops-test-evidence"
# Reconciliation reads the loopback fakes without pacing pauses (tests assert the paged calls).
FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS = 0.0
