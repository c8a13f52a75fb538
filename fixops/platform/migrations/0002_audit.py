"""The audit log's tables, adopted from evidence (evidence 0002_audit_log_to_platform dropped
the foreign keys to tenants, renamed the tables and removed the models from its state): state
only, every existing row stays.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("platform", "0001_events"),
        ("evidence", "0002_audit_log_to_platform"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditChainHead",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("tenant_id", models.BigIntegerField(blank=True, null=True)),
                        ("seq", models.PositiveBigIntegerField(default=0)),
                        ("hash", models.CharField(max_length=64)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("tenant_id",),
                                name="audit_head_tenant_uniq",
                                nulls_distinct=False,
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("tenant_id", models.BigIntegerField(blank=True, null=True)),
                        ("seq", models.PositiveBigIntegerField()),
                        ("actor", models.CharField(max_length=150)),
                        ("action", models.CharField(max_length=100)),
                        ("target_type", models.CharField(max_length=100)),
                        ("target_id", models.CharField(max_length=100)),
                        ("before", models.JSONField(blank=True, null=True)),
                        ("after", models.JSONField(blank=True, null=True)),
                        ("request_id", models.CharField(blank=True, max_length=64)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("prev_hash", models.CharField(max_length=64)),
                        ("hash", models.CharField(max_length=64)),
                    ],
                    options={
                        "ordering": ["-seq"],
                        "indexes": [
                            models.Index(
                                fields=["tenant_id", "target_type", "target_id"],
                                name="audit_target_idx",
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("tenant_id", "seq"),
                                name="audit_event_chain_uniq",
                                nulls_distinct=False,
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
