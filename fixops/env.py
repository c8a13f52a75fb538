"""The one place that reads the process environment (through django-environ).

Settings modules import `env` from here; nothing else in the code base reads os.environ for
configuration. A `.env` file at the repository root is read when present (development only
convenience; production passes real environment variables).
"""

from __future__ import annotations

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    environ.Env.read_env(_dotenv, overwrite=False)


def var_dir() -> Path:
    """Where the embedded stack keeps its state (SQLite file, broker folders, evidence)."""
    return Path(env.str("FIXOPS_VAR_DIR", default=str(BASE_DIR / "var")))
