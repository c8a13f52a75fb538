"""Leave room in findings and occurrences pages so re-imports update them in place.

Every re-import rewrites last_seen/last_scan of the findings it sees again. With full pages
(PostgreSQL's default fillfactor 100) each such UPDATE writes a new tuple elsewhere and
touches every index; with free space on the page it becomes a HOT update that leaves the
indexes alone. Applies to pages written from now on; a VACUUM FULL rewrites old ones.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ("findings_finding", "findings_occurrence"):
        schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in ("findings_finding", "findings_occurrence"):
        schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("findings", "0004_finding_risk")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
