"""Every top-level result property of the wrong JSON type is a ParseError or ignored, never a
crash (a crash would be a 500 for the uploader)."""

from __future__ import annotations

import io
import json

import pytest

from apps.findings.parsers import get_parser
from apps.findings.parsers.base import ParseError

RESULT = {
    "ruleId": "r",
    "ruleIndex": 0,
    "message": {"text": "m"},
    "level": "error",
    "kind": "fail",
    "baselineState": "new",
    "rank": 1.0,
    "fingerprints": {"a": "b"},
    "partialFingerprints": {"c": "d"},
    "suppressions": [{"kind": "inSource"}],
    "properties": {"tags": ["x"]},
    "rule": {"id": "r", "index": 0},
    "locations": [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "a.py"},
                "region": {"startLine": 3, "snippet": {"text": "x"}},
            }
        }
    ],
}
VALUES = ({}, [], 1, True, None, "s", 1.5, [{}], {"x": []})


@pytest.mark.parametrize("key", sorted(RESULT))
def test_wrong_types_never_crash(key):
    for value in VALUES:
        result = {**RESULT, key: value}
        log = {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "x",
                            "rules": [{"id": "r", "properties": {"tags": "CWE-79"}}],
                        }
                    },
                    "results": [result],
                }
            ],
        }
        try:
            parsed = get_parser("sarif").parse(io.BytesIO(json.dumps(log).encode()))
            findings = list(parsed.findings)
        except ParseError:
            continue
        for finding in findings:
            assert isinstance(finding.baseline_state, str)
            assert finding.severity in ("critical", "high", "medium", "low", "info")
