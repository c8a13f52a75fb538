"""Policy input documents built in code: one finding dict per call, defaults that no rule of
the default pack matches, so each test states only the facts it is about."""

from __future__ import annotations

import itertools
from typing import Any

from apps.policies.inputs import DAY_NS, empty_document

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
    return row


def document(*findings: dict, exposed: bool = False, **summary: Any) -> dict[str, Any]:
    doc = empty_document()
    doc["application"].update(id=1, name="shop", internet_exposed=exposed)
    doc["findings"] = list(findings)
    doc["summary"].update(summary)
    return doc


def accepted_for(doc: dict, days: int) -> dict[str, Any]:
    return {"id": 99, "scope": "finding", "expires_ns": doc["now_ns"] + days * DAY_NS + 1}
