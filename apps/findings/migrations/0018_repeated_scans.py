"""Repeated scans (apps/findings/repeat.py): a scan's content digest, a stream's pending
sightings. Both columns have constant database defaults (rows written by COPY, as the dataset
generator's, need them), so adding them rewrites no table; the index
is built CONCURRENTLY, as the release still serving keeps writing scans."""

from django.db import migrations, models

from fixops.platform.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("findings", "0017_kev_recent_index"),
        ("tenants", "0006_retention_inbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="scan",
            name="content_digest",
            field=models.CharField(blank=True, default="", db_default="", max_length=64),
        ),
        migrations.AddField(
            model_name="stream",
            name="sightings_pending",
            field=models.BooleanField(default=False, db_default=False),
        ),
        AddIndexOnline(
            model_name="scan",
            index=models.Index(
                condition=~models.Q(content_digest=""),
                fields=["application", "content_digest"],
                name="scan_app_content_idx",
            ),
        ),
    ]
