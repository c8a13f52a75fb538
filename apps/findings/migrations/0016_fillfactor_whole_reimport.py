"""Keep half of each findings and occurrences page free, so a whole re-import updates in place.

A re-import rewrites last_seen and the last scan of every finding and occurrence it sees
again. None of those columns is indexed, so PostgreSQL can write each new row version as a
heap-only tuple (no entry in any of the tables' indexes), but only on the same page. 0005 and
0013 left 30% and then 15% free, which holds the new versions of a few rows per page: when a
scan sees every row again, the rest moved to other pages with an entry in every index.
Measured on 10,000 findings, four re-imports in a row: the findings UPDATE took 150-195 ms at
fillfactor 85 and 55-85 ms at 50, and the tables ended at 14 MB and 7 MB (heap-only updates
reuse the page's space once the old versions are pruned; moved rows leave dead ones behind
until vacuum). Existing pages follow as rows are rewritten, or at once with VACUUM FULL."""

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
    dependencies = [("findings", "0015_scale_indexes")]

    operations = [migrations.RunPython(_fillfactor(50), _fillfactor(85))]
