"""CISA SSVC (Stakeholder-Specific Vulnerability Categorization) for vulnerability findings.

The decision table is CISA's coordinator table v2.0.3 (CERTCC/SSVC
data/csv/cisa/cisa_coordinator_2_0_3.csv), embedded as data. The decision points are fed from
FixOps' intel, each with where it came from:

- Exploitation: `active` when the CVE is in CISA KEV; `poc` when a public exploit reference is
  known, or (marked `inferred`) when EPSS >= 0.1; else `none`.
- Automatable: `yes` when the CVSS vector says network, low complexity, no privileges and no
  user interaction (v4 also no attack requirements); else `no`.
- Technical impact: `total` when confidentiality and integrity impacts are both High (v4: VC
  and VI); else `partial`.
- Mission & well-being: from the application's criticality (low -> low, medium -> medium,
  high and critical -> high).
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("Track", "Track*", "Attend", "Act")
EPSS_POC_THRESHOLD = 0.1

# (exploitation, automatable, technical impact) -> outcomes for mission low / medium / high.
_TABLE: dict[tuple[str, str, str], tuple[str, str, str]] = {
    ("none", "no", "partial"): ("Track", "Track", "Track"),
    ("none", "no", "total"): ("Track", "Track", "Track*"),
    ("none", "yes", "partial"): ("Track", "Track", "Attend"),
    ("none", "yes", "total"): ("Track", "Track", "Attend"),
    ("poc", "no", "partial"): ("Track", "Track", "Track*"),
    ("poc", "no", "total"): ("Track", "Track*", "Attend"),
    ("poc", "yes", "partial"): ("Track", "Track", "Attend"),
    ("poc", "yes", "total"): ("Track", "Track*", "Attend"),
    ("active", "no", "partial"): ("Track", "Track", "Attend"),
    ("active", "no", "total"): ("Track", "Attend", "Act"),
    ("active", "yes", "partial"): ("Attend", "Attend", "Act"),
    ("active", "yes", "total"): ("Attend", "Act", "Act"),
}
_MISSION = {"low": 0, "medium": 1, "high": 2}
MISSION_FROM_CRITICALITY = {"low": "low", "medium": "medium", "high": "high", "critical": "high"}


@dataclass(frozen=True)
class SsvcInputs:
    exploitation: str  # none / poc / active
    automatable: str  # yes / no
    technical_impact: str  # partial / total
    mission: str  # low / medium / high
    exploitation_inferred: bool = False

    def as_dict(self) -> dict:
        return {
            "exploitation": self.exploitation,
            "exploitation_inferred": self.exploitation_inferred,
            "automatable": self.automatable,
            "technical_impact": self.technical_impact,
            "mission_wellbeing": self.mission,
        }


def decide(inputs: SsvcInputs) -> str:
    """The SSVC outcome (Track, Track*, Attend, Act) of CISA's table for these inputs."""
    row = _TABLE[(inputs.exploitation, inputs.automatable, inputs.technical_impact)]
    return row[_MISSION[inputs.mission]]


def vector_points(vector: str) -> tuple[str, str]:
    """(automatable, technical impact) from a CVSS v3.x or v4.0 vector, by CISA's heuristics."""
    metrics = dict(part.split(":", 1) for part in vector.split("/") if ":" in part)
    if vector.startswith("CVSS:4"):
        automatable = all(
            metrics.get(k) == v
            for k, v in (("AV", "N"), ("AC", "L"), ("AT", "N"), ("PR", "N"), ("UI", "N"))
        )
        total = metrics.get("VC") == "H" and metrics.get("VI") == "H"
    else:
        automatable = all(
            metrics.get(k) == v for k, v in (("AV", "N"), ("AC", "L"), ("PR", "N"), ("UI", "N"))
        )
        total = metrics.get("C") == "H" and metrics.get("I") == "H"
    return ("yes" if automatable else "no"), ("total" if total else "partial")


def inputs_for(
    *, kev: bool, exploit_public: bool, epss: float | None, vector: str, criticality: str
) -> SsvcInputs:
    """Decision points from FixOps' intel (see the module docstring for each rule)."""
    inferred = False
    if kev:
        exploitation = "active"
    elif exploit_public:
        exploitation = "poc"
    elif epss is not None and epss >= EPSS_POC_THRESHOLD:
        exploitation, inferred = "poc", True
    else:
        exploitation = "none"
    automatable, technical = vector_points(vector) if vector else ("no", "partial")
    return SsvcInputs(
        exploitation=exploitation,
        automatable=automatable,
        technical_impact=technical,
        mission=MISSION_FROM_CRITICALITY.get(criticality, "medium"),
        exploitation_inferred=inferred,
    )
