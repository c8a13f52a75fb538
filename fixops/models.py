"""Platform state that belongs to no tenant."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a periodic process proved it is alive (one row per source, e.g. "beat")."""

    source = models.CharField(max_length=50, unique=True)
    last_seen = models.DateTimeField()
    beats = models.BigIntegerField(default=0)
    hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["source"]

    def __str__(self) -> str:
        return f"{self.source} @ {self.last_seen:%Y-%m-%d %H:%M:%S}"
