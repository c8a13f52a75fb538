"""AddIndexOnline: CONCURRENTLY on PostgreSQL, a plain index on SQLite (`make run`)."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SqliteWrapper
from django.db.migrations.loader import MigrationLoader

MIGRATION = ("findings", "0017_kev_recent_index")
PREVIOUS = ("findings", "0016_fillfactor_whole_reimport")


def collected_sql(conn) -> list[str]:
    """The SQL the migration's operation runs forwards, then backwards, on `conn`."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    before, after = loader.project_state(PREVIOUS), loader.project_state(MIGRATION)
    operation = loader.get_migration(*MIGRATION).operations[0]
    with conn.schema_editor(collect_sql=True, atomic=False) as editor:
        operation.database_forwards("findings", editor, before, after)
        operation.database_backwards("findings", editor, after, before)
    return editor.collected_sql


@pytest.mark.django_db
def test_postgresql_builds_and_drops_the_index_concurrently():
    # A connection of its own: the test's transaction would (rightly) refuse CONCURRENTLY.
    own = type(connections["default"])({**connection.settings_dict}, alias="default")
    try:
        forwards, backwards = collected_sql(own)
    finally:
        own.close()
    assert forwards.startswith('CREATE INDEX CONCURRENTLY "finding_tenant_kev_recent_idx"')
    assert forwards.endswith('("tenant_id", "id" DESC) WHERE "kev";')
    assert backwards == 'DROP INDEX CONCURRENTLY IF EXISTS "finding_tenant_kev_recent_idx";'


def test_the_migration_runs_outside_a_transaction():
    migration = MigrationLoader(None, ignore_no_migrations=True).get_migration(*MIGRATION)
    assert migration.atomic is False


@pytest.mark.django_db
def test_the_index_is_in_the_migrated_database():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'finding_tenant_kev_recent_idx'"
        )
        (definition,) = cursor.fetchone()
    assert "(tenant_id, id DESC) WHERE kev" in definition


@pytest.mark.django_db  # lets the in-memory SQLite connection open; PostgreSQL is not used
def test_sqlite_gets_a_plain_index_both_ways():
    sqlite = SqliteWrapper({**connection.settings_dict, "NAME": ":memory:"})
    try:
        forwards, backwards = collected_sql(sqlite)
    finally:
        sqlite.close()
    assert forwards.startswith('CREATE INDEX "finding_tenant_kev_recent_idx"')
    assert "CONCURRENTLY" not in forwards
    assert backwards == 'DROP INDEX "finding_tenant_kev_recent_idx";'
