"""One migrated template database that every test process clones its test database from.

Each pytest process (one per xdist worker) used to create its test database by running every
migration: about 10 s of CPU each, two or three at once on two cores. PostgreSQL copies a
migrated template (`CREATE DATABASE ... TEMPLATE`) in well under a second, after which
Django's `migrate` finds nothing to apply.

The template holds the schema and what migrations write, not what `post_migrate` handlers
write (content types, permissions, the default policy from the shipped pack): its build does
not emit the signal, so each clone's own `migrate` emits it with the code under test, as a
fresh database's would. It is named by a digest of what decides the rest (our migration files,
the pinned requirements, which fix the third-party apps' migrations, and the settings module),
so a changed migration gets a new template and the old ones are dropped. It is built under a
temporary name and renamed once migrated, so a build that was interrupted is never cloned.
The pytest controller builds it (tests/conftest.py, `pytest_configure`) and hands its name to
the test processes in FIXOPS_TEST_DB_TEMPLATE; without PostgreSQL it builds nothing and each
process migrates its own database as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_ENV = "FIXOPS_TEST_DB_TEMPLATE"
SCHEMA_SOURCES = ("apps/*/migrations/*.py", "fixops/**/migrations/*.py", "requirements/*.txt")


def schema_digest(settings_module: str) -> str:
    """sha256 over the settings module's name and the paths and contents of the files that
    decide the test schema."""
    digest = hashlib.sha256(settings_module.encode() + b"\0")
    for pattern in SCHEMA_SOURCES:
        for path in sorted(ROOT.glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_template(database: dict, test_name: str, settings_module: str) -> str:
    """The name of an up-to-date migrated template for `test_name`, built if missing.

    `database` is Django's settings dict of the default database (host, port, user);
    `settings_module` the Django settings the tests run with."""
    name = f"{test_name}_tmpl_{schema_digest(settings_module)[:12]}"
    with _admin_connection(database) as conn:
        # Finished templates only: a name as long as ours (another run's build is longer).
        existing = [n for n in _databases(conn, f"{test_name}_tmpl_") if len(n) == len(name)]
        if name in existing:
            return name
        building = f"{name}_{os.getpid()}"
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(building)))
        try:
            _migrate(database, building, settings_module)
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                    sql.Identifier(building), sql.Identifier(name)
                )
            )
        except (subprocess.SubprocessError, psycopg.errors.DuplicateDatabase):
            # A failed migrate, or a concurrent run that finished the same template first.
            _drop(conn, building)
            if name not in _databases(conn, name):
                raise
        for stale in existing:
            if stale != name:
                _drop(conn, stale)
    return name


def _admin_connection(database: dict) -> psycopg.Connection:
    return psycopg.connect(
        dbname="postgres",
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        autocommit=True,  # CREATE and DROP DATABASE cannot run in a transaction
        connect_timeout=5,
    )


def _databases(conn: psycopg.Connection, prefix: str) -> list[str]:
    rows = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,))
    return [name for (name,) in rows]


def _drop(conn: psycopg.Connection, name: str) -> None:
    """Drop a database; one still in use (another run cloning it) is left for the next run."""
    with contextlib.suppress(psycopg.errors.ObjectInUse):
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def _migrate(database: dict, name: str, settings_module: str) -> None:
    """Run every migration on database `name`, in a process of its own (`_migrate_schema`)."""
    url = "postgres://{user}{password}@{host}:{port}/{name}".format(
        user=quote(database.get("USER") or "", safe=""),
        password=f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else "",
        host=database.get("HOST") or "127.0.0.1",
        port=database.get("PORT") or 5432,
        name=name,
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": settings_module}
    subprocess.run(
        [sys.executable, "-m", "tests.db_template"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,  # a migrate that hangs fails the run instead of stalling it
    )


def _migrate_schema() -> None:
    """Migrate the database of DATABASE_URL as Django's test database creation does, without
    emitting post_migrate (see the module docstring)."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.management.commands import migrate

    migrate.emit_post_migrate_signal = lambda *args, **kwargs: None
    call_command("migrate", run_syncdb=True, interactive=False, verbosity=0)


if __name__ == "__main__":
    _migrate_schema()
