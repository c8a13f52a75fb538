"""Policy input documents built in code: one finding dict per call, defaults that no rule of
the default pack matches, so each test states only the facts it is about."""

from __future__ import annotations

import itertools
from typing import Any

from apps.policies.inputs import DAY_NS, empty_document
from apps.policies.profiles import FINDING_KEYS, NOT_AFFECTED_VEX, assemble, candidate_filter
from apps.policies.services import pack

_ids = itertools.count(1)


def finding(**facts: Any) -> dict[str, Any]:
    row = {
        "id": next(_ids),
        "kind": "sast",
        "severity": "medium",
        "risk": 4.0,
        "epss": None,
        "kev": False,
        "ssvc": "",
        "vex": "",
        "status": "open",
        "age_days": 1,
        "sla_days": 90,
        "past_sla": False,
        "in_scope": True,
        "rule": "python.eval",
        "vuln": "",
        "path": "src/app.py",
        "component": "",
        "tool": "semgrep",
        "accepted": None,
    }
    row.update(facts)
    row["actionable"] = row["accepted"] is None and row["vex"] not in NOT_AFFECTED_VEX
    return row


def document(
    *findings: dict, exposed: bool = False, filt: dict | None = None, now_ns: int | None = None
) -> dict[str, Any]:
    """A document as inputs.build makes it: profiles over every finding, detail for the
    candidate filter (the default pack's unless `filt` is given)."""
    doc = empty_document()
    if now_ns is not None:
        doc["now_ns"] = now_ns
    doc["application"].update(id=1, name="shop", internet_exposed=exposed)
    rows = [(*(f[k] for k in FINDING_KEYS), f["actionable"]) for f in findings]
    doc.update(assemble(rows, filt or candidate_filter(pack()[1])))
    return doc


def accepted_for(now_ns: int, days: int) -> dict[str, Any]:
    return {"id": 99, "scope": "finding", "expires_ns": now_ns + days * DAY_NS + 1}
