"""Leave room in findings' and occurrences' pages for updated row versions.

A re-import updates every finding and occurrence it sees again (last_seen, last scan). None of
those columns is indexed, so PostgreSQL can write the new version as a heap-only tuple — no
new entry in any of the tables' indexes — but only when the page holding the row has room.
At the default fillfactor (100) pages are full and every such update touches every index.
Pages written from now on keep 15% free; existing ones follow as rows are rewritten (or at
once with `VACUUM FULL`, docs/operations.md)."""

from django.db import migrations

TABLES = ("findings_finding", "findings_occurrence")


def _fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return  # SQLite has no fillfactor
        for table in TABLES:
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("findings", "0012_sla_policy_due_at")]

    operations = [migrations.RunPython(_fillfactor(85), _fillfactor(100))]
