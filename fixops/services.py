"""Writes to platform-wide state."""

from __future__ import annotations

import socket

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fixops.models import Heartbeat


def heartbeat_record(*, source: str = "beat") -> Heartbeat:
    """Record that `source` is alive now; one row per source, counting beats."""
    now = timezone.now()
    with transaction.atomic():
        updated = Heartbeat.objects.filter(source=source).update(
            last_seen=now, beats=F("beats") + 1, hostname=socket.gethostname()
        )
        if not updated:
            Heartbeat.objects.get_or_create(
                source=source,
                defaults={"last_seen": now, "beats": 1, "hostname": socket.gethostname()},
            )
    return Heartbeat.objects.get(source=source)
