"""Write the schedules declared in fixops/schedules.py into django-celery-beat."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from fixops.schedules import Schedule, schedules


def _schedule_fields(entry: Schedule) -> dict:
    if entry.every is not None:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=entry.every, period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    minute, hour, dom, month, dow = (entry.crontab or "").split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=dom,
        month_of_year=month,
        day_of_week=dow,
        timezone="UTC",
    )
    return {"interval": None, "crontab": crontab}


class Command(BaseCommand):
    help = "Create or update the periodic tasks declared in code (never deletes admin edits)."

    def handle(self, *args, **options) -> None:
        with transaction.atomic():
            for entry in schedules():
                # update_or_create by name keeps `enabled` and any task an admin added by hand.
                _, created = PeriodicTask.objects.update_or_create(
                    name=entry.name,
                    defaults={
                        "task": entry.task,
                        "kwargs": json.dumps(entry.kwargs),
                        "description": entry.description,
                        **_schedule_fields(entry),
                    },
                )
                verb = "created" if created else "updated"
                self.stdout.write(f"{verb}: {entry.name} -> {entry.task}")
