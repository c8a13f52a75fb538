"""Bundles are recorded pending and stored after commit. Bundles that exist are stored already:
they get `stored`; new ones start `pending`."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0002_audit_log_to_platform"),
    ]

    operations = [
        migrations.AddField(
            model_name="evidencebundle",
            name="pending_token",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evidencebundle",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending (signed, not stored yet)"), ("stored", "Stored")],
                default="stored",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="evidencebundle",
            name="status",
            field=models.CharField(
                choices=[("pending", "Pending (signed, not stored yet)"), ("stored", "Stored")],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="evidencebundle",
            name="stored_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="evidencebundle",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["id"],
                name="evidence_pending_idx",
            ),
        ),
    ]
