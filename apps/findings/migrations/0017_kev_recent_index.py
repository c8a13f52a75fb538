from django.conf import settings
from django.db import migrations, models

from fixops.platform.migration_ops import AddIndexOnline


class Migration(migrations.Migration):
    # CONCURRENTLY: the findings table is the largest, and the release still serving writes it.
    atomic = False

    dependencies = [
        ("findings", "0016_fillfactor_whole_reimport"),
        ("tenants", "0006_retention_inbox"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        AddIndexOnline(
            model_name="finding",
            index=models.Index(
                condition=models.Q(("kev", True)),
                fields=["tenant", "-id"],
                name="finding_tenant_kev_recent_idx",
            ),
        ),
    ]
