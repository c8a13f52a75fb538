"""Bundles are recorded pending and stored after commit. Bundles that exist are stored already:
they get `stored`; new ones start `pending`. A bundle may prove something other than a decision
(evidence signs any statement), so its decision is optional."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0002_audit_log_to_platform"),
        ("policies", "0001_initial"),
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
        migrations.AlterField(
            model_name="evidencebundle",
            name="decision",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="evidence",
                to="policies.decision",
            ),
        ),
    ]
