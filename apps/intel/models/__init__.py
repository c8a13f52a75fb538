"""Public vulnerability intelligence (global, not tenant-owned) and per-tenant risk settings."""

from apps.intel.models.feeds import EpssHistory, FeedStatus
from apps.intel.models.osv import OsvAdvisory, OsvAffected
from apps.intel.models.risk import IntelEvent, RiskSettings
from apps.intel.models.vulnerability import Vulnerability, VulnerabilityAlias

__all__ = [
    "EpssHistory",
    "FeedStatus",
    "IntelEvent",
    "OsvAdvisory",
    "OsvAffected",
    "RiskSettings",
    "Vulnerability",
    "VulnerabilityAlias",
]
