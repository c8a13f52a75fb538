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


def _run_with(rule: dict, invocation: dict) -> dict:
    return {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "x", "rules": [rule]}},
                "invocations": [invocation],
                "results": [{"ruleId": "r", "message": {"text": "m"}}],
            }
        ],
    }


@pytest.mark.parametrize("value", VALUES)
def test_rule_and_invocation_levels_of_any_type_are_warnings(value):
    """A level that is an object or an array once raised TypeError (a 500): now it is ignored
    with a warning naming where it was."""
    rule = {"id": "r", "defaultConfiguration": {"level": value}}
    override = {"descriptor": {"id": "r"}, "configuration": {"level": value}}
    log = _run_with(rule, {"ruleConfigurationOverrides": [override]})
    parsed = get_parser("sarif").parse(io.BytesIO(json.dumps(log).encode()))
    [finding] = list(parsed.findings)
    assert finding.severity == "medium"  # the default level "warning"
    if value is None:
        assert parsed.skipped == []
        return
    assert [(i.pointer, i.lost_finding, i.reason) for i in parsed.skipped] == [
        ("/runs/0/tool/driver/rules/0/defaultConfiguration/level", False, "level"),
        (
            "/runs/0/invocations/0/ruleConfigurationOverrides/0/configuration/level",
            False,
            "level",
        ),
    ]


@pytest.mark.parametrize("value", VALUES)
def test_message_id_and_rule_fields_of_any_type_never_crash(value):
    rule = {"id": "r", "name": value, "guid": value, "messageStrings": {"default": value}}
    log = _run_with(rule, {})
    log["runs"][0]["results"] = [
        {"message": {"id": value}},
        {"ruleIndex": 0, "message": {"id": value, "text": value}},
        {"rule": {"guid": value, "index": value}, "message": {"text": "m"}},
        {"properties": {"rule": value, "tags": value}, "message": {"text": "m"}},
    ]
    try:
        parsed = get_parser("sarif").parse(io.BytesIO(json.dumps(log).encode()))
        list(parsed.findings)
    except ParseError:
        pass
