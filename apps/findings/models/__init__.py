"""Applications, their component inventory, scans, findings and occurrences."""

from apps.findings.models.application import Application, Criticality, DataClassification
from apps.findings.models.comment import FindingComment
from apps.findings.models.finding import (
    Finding,
    FindingEvent,
    FindingStatus,
    Occurrence,
    Severity,
)
from apps.findings.models.scan import Component, Scan, ScanStatus
from apps.findings.models.sla import SlaPolicy, SlaState
from apps.findings.models.stream import Stream

__all__ = [
    "Application",
    "Component",
    "Criticality",
    "DataClassification",
    "Finding",
    "FindingComment",
    "FindingEvent",
    "FindingStatus",
    "Occurrence",
    "Scan",
    "ScanStatus",
    "Severity",
    "SlaPolicy",
    "SlaState",
    "Stream",
]
