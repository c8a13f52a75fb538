"""How loose values in reports and advisories become the finding vocabulary: severity bands
from CVSS scores, CWE numbers from their spellings. Shared by the parsers and by intel's
advisory matching, so an advisory and a scanner name the same thing the same way."""

from __future__ import annotations

import re

_CWE = re.compile(r"^(?:CWE-)?(\d+)$", re.IGNORECASE)


def severity_from_score(score: float) -> str:
    """CVSS v2/v3/v4 qualitative bands."""
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0.0:
        return "low"
    return "info"


def cwe_number(raw: object) -> int | None:
    """79, "79" and "CWE-79" -> 79; anything else None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if raw > 0 else None
    if isinstance(raw, float) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        return None
    match = _CWE.match(raw.strip())
    return int(match.group(1)) if match else None
