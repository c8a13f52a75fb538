"""The digests of a decision's inputs: what its evidence statement names as subjects, and how
documents and policies are digested.

Each scan's raw report (sha256 of the uploaded bytes), the policy version (sha256 of its
canonical source and parameters) and the policy input document. The gate signs these; evidence
verification recomputes them from the rows, so an edited row no longer matches what was signed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from apps.policies.models import Decision


def document_digest(document: Any) -> str:
    """sha256 of `document` as sorted-key, compact, UTF-8 JSON (json.dumps with sort_keys,
    separators (",", ":"), ensure_ascii=False): the digest the evidence names for the policy
    and the decision input. Not RFC 8785 on purpose: the input carries epoch-nanosecond
    integers, which RFC 8785 refuses (beyond 2^53), and it is too slow at 10,000 findings."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def policy_digest(source: str, parameters: dict) -> str:
    """What the evidence bundle names as the policy: the source with its parameters."""
    return document_digest({"parameters": parameters, "source": source})


def decision_subjects(
    decision: Decision, scans: list | None = None, *, recompute: bool = False
) -> list[dict[str, Any]]:
    """The statement's subjects: each scan's report digest, the policy's and the input's.
    `recompute` derives the policy and input digests from the stored source and document
    (verification) instead of trusting the digest columns written with them. `scans`: the
    decision's scans when the caller has them (saves a query on the gate's hot path)."""
    version = decision.policy_version
    policy, document = version.digest, decision.input_digest
    if recompute:
        policy = policy_digest(version.source, version.parameters)
        document = document_digest(decision.input)
    scans = sorted(decision.scans.all() if scans is None else scans, key=lambda scan: scan.pk)
    return [
        *(
            {"name": f"scan/{scan.pk}/{scan.format}", "digest": {"sha256": scan.sha256}}
            for scan in scans
        ),
        {"name": f"policy/{version.policy.name}/v{version.number}", "digest": {"sha256": policy}},
        {"name": f"decision-input/{decision.pk}", "digest": {"sha256": document}},
    ]
