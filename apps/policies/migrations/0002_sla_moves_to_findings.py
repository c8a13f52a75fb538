"""The SLA moves to the findings layer: each tenant's PolicySettings.sla_days and
sla_restart_on_expiry become its findings.SlaPolicy, every finding gets its `due_at` (and the
accepted ones a paused clock), then the old columns go. Self-contained: the rule is the one of
apps/findings/sla.py as it was written (severity days only; no KEV/SSVC overrides yet)."""

from datetime import timedelta

from django.db import migrations
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

DEFAULT_DAYS = {"critical": 7, "high": 30, "medium": 90, "low": 180, "info": 365}


def _days(raw) -> dict[str, int]:
    days = {}
    for severity, value in (raw or {}).items():
        if severity in DEFAULT_DAYS and isinstance(value, int) and value >= 1:
            days[severity] = value
    return days


def forwards(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    PolicySettings = apps.get_model("policies", "PolicySettings")
    SlaPolicy = apps.get_model("findings", "SlaPolicy")
    settings = {s.tenant_id: s for s in PolicySettings.objects.all()}
    Finding = apps.get_model("findings", "Finding")
    start = Coalesce(F("sla_started_at"), F("first_seen"))
    for tenant_id in Tenant.objects.values_list("pk", flat=True):
        old = settings.get(tenant_id)
        if old is not None:
            days = _days(old.sla_days)
            SlaPolicy.objects.update_or_create(
                tenant_id=tenant_id,
                defaults={"days": days, "restart_on_expiry": old.sla_restart_on_expiry},
            )
        else:
            days = dict(DEFAULT_DAYS)
        for severity, value in sorted(days.items()):
            due = ExpressionWrapper(
                start + Value(timedelta(days=value)), output_field=DateTimeField()
            )
            Finding.objects.filter(tenant_id=tenant_id, severity=severity).update(due_at=due)
    # Breaches that happened before SLA tracking existed are the backlog the overdue filter
    # shows, not news: the breach task announces only deadlines that pass from now on (a
    # first run would otherwise post one chat message per 1,000 overdue findings).
    Finding.objects.filter(due_at__lt=timezone.now()).update(sla_breach_announced=F("due_at"))
    # Accepted findings: their clock stopped (about) when they were last changed.
    Finding.objects.filter(status="risk_accepted", sla_paused_at__isnull=True).update(
        sla_paused_at=F("updated_at")
    )


def backwards(apps, schema_editor):
    PolicySettings = apps.get_model("policies", "PolicySettings")
    SlaPolicy = apps.get_model("findings", "SlaPolicy")
    for policy in SlaPolicy.objects.all():
        PolicySettings.objects.update_or_create(
            tenant_id=policy.tenant_id,
            defaults={"sla_days": policy.days, "sla_restart_on_expiry": policy.restart_on_expiry},
        )


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0001_initial"),
        ("findings", "0012_sla_policy_due_at"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="policysettings", name="sla_days"),
        migrations.RemoveField(model_name="policysettings", name="sla_restart_on_expiry"),
    ]
