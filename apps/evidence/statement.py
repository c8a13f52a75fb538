"""Statements evidence builds itself: the signed checkpoint of an audit chain's head; and the
RFC 3339 form of a moment that every statement and export uses.

Documents evidence signs for others (a decision's statement: apps/pipeline/statement.py) are
built by their callers; evidence signs and stores whatever it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from apps.evidence.signing import STATEMENT_TYPE

CHECKPOINT_TYPE = "https://fixops.dev/audit-checkpoint/v1"


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def checkpoint_statement(
    *, chain: str, seq: int, head_hash: str, moment: datetime
) -> dict[str, Any]:
    """A statement that chain `chain` had `seq` rows ending in `head_hash` at `moment`."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": f"audit-chain/{chain}", "digest": {"sha256": head_hash}}],
        "predicateType": CHECKPOINT_TYPE,
        "predicate": {"chain": chain, "seq": seq, "headHash": head_hash, "time": rfc3339(moment)},
    }
