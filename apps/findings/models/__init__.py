"""Applications, their component inventory, scans, findings and occurrences."""

from apps.findings.models.application import Application, Criticality, DataClassification
from apps.findings.models.finding import Finding, FindingStatus, Occurrence, Severity
from apps.findings.models.scan import Component, Scan, ScanStatus

__all__ = [
    "Application",
    "Component",
    "Criticality",
    "DataClassification",
    "Finding",
    "FindingStatus",
    "Occurrence",
    "Scan",
    "ScanStatus",
    "Severity",
]
