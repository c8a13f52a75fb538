"""Feed bookkeeping and EPSS history."""

from __future__ import annotations

from django.db import models


class FeedStatus(models.Model):
    """The state of one feed (epss, kev, osv): shown on /readyz and in the admin."""

    name = models.CharField(max_length=20, unique=True)
    url = models.CharField(max_length=1000, blank=True)
    last_attempt = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    row_count = models.IntegerField(default=0)
    version = models.CharField(max_length=100, blank=True)  # EPSS score_date, KEV catalogVersion
    etag = models.CharField(max_length=300, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "feed statuses"

    def __str__(self) -> str:
        return self.name


class EpssHistory(models.Model):
    """Daily EPSS of the CVEs that appear in findings (all CVEs would be 300k rows a day)."""

    cve = models.CharField(max_length=64)
    date = models.DateField()
    score = models.FloatField()
    percentile = models.FloatField()
    model_version = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cve", "date"], name="epss_history_uniq")]
        verbose_name = "EPSS history entry"
        verbose_name_plural = "EPSS history"

    def __str__(self) -> str:
        return f"{self.cve} {self.date} {self.score}"
