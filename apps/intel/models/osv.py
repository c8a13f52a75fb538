"""OSV advisories and their affected packages, indexed for matching SBOM components."""

from __future__ import annotations

from django.db import models


class OsvAdvisory(models.Model):
    osv_id = models.CharField(max_length=100, unique=True)
    modified = models.DateTimeField()
    published = models.DateTimeField(null=True, blank=True)
    withdrawn = models.DateTimeField(null=True, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    summary = models.TextField(blank=True)
    severity = models.JSONField(default=list, blank=True)  # [{"type": "CVSS_V3", "score": vec}]
    cwes = models.JSONField(default=list, blank=True)
    references = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = "OSV advisory"
        verbose_name_plural = "OSV advisories"

    def __str__(self) -> str:
        return self.osv_id


class OsvAffected(models.Model):
    """One affected package of an advisory, keyed like a purl for matching."""

    advisory = models.ForeignKey(OsvAdvisory, on_delete=models.CASCADE, related_name="affected")
    ecosystem = models.CharField(max_length=100)  # OSV ecosystem, e.g. "PyPI"
    purl_type = models.CharField(max_length=50)  # e.g. "pypi"
    package = models.CharField(max_length=500)  # normalised name (PEP 503 for PyPI)
    ranges = models.JSONField(default=list, blank=True)  # OSV ranges (SEMVER/ECOSYSTEM/GIT)
    versions = models.JSONField(default=list, blank=True)  # explicit affected versions
    fixed = models.JSONField(default=list, blank=True)  # fixed versions, for remediation

    class Meta:
        indexes = [models.Index(fields=["purl_type", "package"], name="osv_affected_pkg_idx")]
        verbose_name = "OSV affected package"
        verbose_name_plural = "OSV affected packages"

    def __str__(self) -> str:
        return f"{self.advisory_id} {self.purl_type}/{self.package}"
