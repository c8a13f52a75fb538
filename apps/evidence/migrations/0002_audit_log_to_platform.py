"""The audit log's tables move to the platform layer (fixops.platform, migration 0002_audit).

Rows are kept: the foreign keys to tenants become plain columns (a chain is never
cascade-deleted with its tenant), the tables are renamed to the platform's names, and only
then are the models dropped from this app's state; platform 0002_audit adopts them.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("evidence", "0001_evidence_bundles_keys_audit"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.AlterField(
            model_name="auditchainhead",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="tenants.tenant",
            ),
        ),
        migrations.AlterModelTable(name="auditevent", table="platform_auditevent"),
        migrations.AlterModelTable(name="auditchainhead", table="platform_auditchainhead"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="AuditChainHead"),
            ],
        ),
    ]
