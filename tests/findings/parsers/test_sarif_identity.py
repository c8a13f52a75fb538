"""SARIF results without a rule id get a stable identity from what the report says; the
results that really cannot be read are lost with their pointer; suppressions and result kinds
in every documented form. Pure Python, no database."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.findings.dedup import assign_keys
from apps.findings.parsers.base import NormalizedFinding, ParseResult
from apps.findings.parsers.sarif import SarifParser
from apps.findings.parsers.sarif.identity import message_template

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "scans" / "sarif" / "real"
GITLEAKS_74 = REAL / "gitleaks-7.4.0.sarif"
GITLEAKS_76 = REAL / "gitleaks-7.6.1.sarif"


def parse(data: bytes) -> tuple[ParseResult, list[NormalizedFinding]]:
    result = SarifParser().parse(io.BytesIO(data))
    return result, list(result.findings)


def log(results: list, *, rules: list | None = None, name: str = "Tester", **run) -> bytes:
    driver = {"name": name, "rules": rules or []}
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": {"driver": driver}, "results": results, **run}]}
    ).encode()


def at(path: str = "src/a.py", line: int = 3, **region) -> list:
    return [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": path},
                "region": {"startLine": line, **region},
            }
        }
    ]


def keys(data: bytes) -> list[str]:
    return [k.dedup_key for k in assign_keys(parse(data)[1])]


# -- gitleaks v7 ---------------------------------------------------------------------------


def test_gitleaks_74_results_without_rule_id_are_eight_secrets_not_lost():
    result, findings = parse(GITLEAKS_74.read_bytes())
    assert (result.tool_name, result.tool_version) == ("gitleaks", "v7.4.0")
    assert len(findings) == 8
    assert {(f.kind, f.rule_id, f.severity) for f in findings} == {
        ("secret", "AWS Access Key", "high")
    }
    assert not [i for i in result.skipped if i.lost_finding]
    [note] = result.skipped
    assert (note.reason, note.pointer) == ("rule_derived", "/runs/0/results/0")
    assert note.message.startswith("8 result(s) without a ruleId")
    # The key (properties.offender) and the line holding it are never kept.
    document = json.loads(GITLEAKS_74.read_text())
    offenders = [r["properties"]["offender"] for r in document["runs"][0]["results"]]
    assert not any(key in repr(findings) + repr(result) for key in offenders)
    lines = [
        r["locations"][0]["physicalLocation"]["region"]["snippet"]["text"]
        for r in document["runs"][0]["results"]
    ]
    assert [f.secret_hash for f in findings] == [
        hashlib.sha256(line.encode()).hexdigest() for line in lines
    ]


def test_gitleaks_74_and_76_give_the_same_keys():
    """7.6 added a ruleId holding the rule's description: upgrading gitleaks keeps findings."""
    assert len(set(keys(GITLEAKS_74.read_bytes()))) == 8
    assert keys(GITLEAKS_74.read_bytes()) == keys(GITLEAKS_76.read_bytes())


def test_gitleaks_74_key_survives_a_moved_line():
    document = json.loads(GITLEAKS_74.read_text())
    before = keys(json.dumps(document).encode())
    for result in document["runs"][0]["results"]:
        result["locations"][0]["physicalLocation"]["region"]["startLine"] += 40
    assert keys(json.dumps(document).encode()) == before


# -- where the identity comes from -----------------------------------------------------------

RULES = [
    {"id": "R0", "name": "FirstRule", "shortDescription": {"text": "First"}},
    {"name": "NamedOnly", "guid": "0F8D4C5E-1111-4C3B-9A8B-2A0E5D9F7C61"},
    {"id": "R2", "guid": "6a1e1b7e-2222-4c3b-9a8b-2a0e5d9f7c61"},
]


@pytest.mark.parametrize(
    ("result", "rule_id"),
    [
        ({"ruleIndex": 0}, "R0"),
        ({"rule": {"index": 0}}, "R0"),
        ({"ruleIndex": 1}, "NamedOnly"),  # a rule with a name and no id
        ({"rule": {"guid": "6A1E1B7E-2222-4C3B-9A8B-2A0E5D9F7C61"}}, "R2"),
        ({"rule": {"id": "R9"}}, "R9"),
        ({"properties": {"rule": "FirstRule"}}, "R0"),  # property naming a known rule
        ({"properties": {"ruleName": "custom-check"}}, "custom-check"),
        ({"message": {"text": "NamedOnly violated in src/a.py"}}, "NamedOnly"),
        ({"message": {"text": "firstrule: line 3"}}, "R0"),  # case-insensitive, word boundary
        ({"message": {"id": "unsafeCall", "arguments": ["eval"]}}, "unsafeCall"),
        (
            {"message": {"text": "Token 4f2a9c1d8e7b6a55 used at line 12"}},
            "Token <hex> used at line <n>",
        ),
        (
            {"message": {"text": "Hard-coded key found"}, "properties": {"tags": "key, AWS"}},
            "Hard-coded key found [key, AWS]",
        ),
    ],
)
def test_rule_identity_without_rule_id(result, rule_id):
    entry = {"message": {"text": "m"}, "locations": at()} | result
    parsed, [finding] = parse(log([entry], rules=RULES))
    assert finding.rule_id == rule_id
    assert not [i for i in parsed.skipped if i.lost_finding]


def test_message_prefix_match_ends_at_a_word_boundary():
    rules = [{"id": "AWS"}, {"id": "AWS Access Key"}]
    _, [longest, none] = parse(
        log(
            [
                {"message": {"text": "AWS Access Key secret detected"}},
                {"message": {"text": "AWSOME thing happened"}},
            ],
            rules=rules,
        )
    )
    assert longest.rule_id == "AWS Access Key"
    assert none.rule_id == "AWSOME thing happened"


def test_a_tool_fingerprint_is_kept_instead_of_the_template_one():
    entry = {"message": {"text": "x at line 3"}, "fingerprints": {"v1": "abc"}, "locations": at()}
    _, [finding] = parse(log([entry]))
    assert finding.fingerprints == {"fp:v1": "abc"}


def _template_result(line: int, value: str) -> dict:
    return {
        "message": {"text": f"Unsafe token {value} passed to exec() at line {line}"},
        "locations": at(line=line),
    }


@settings(max_examples=40, deadline=None)
@given(
    line=st.integers(1, 10**6),
    value=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=12, max_size=30).map(
        lambda s: f"AKIA{s}9"
    ),
)
def test_derived_identity_survives_changed_line_and_value(line, value):
    """No rule id at all: the same result in the next report, moved and with another value in
    its message, keeps its dedup key (the tool gave no fingerprint saying otherwise)."""
    first = keys(log([_template_result(7, "AKIAQ3M8HV2NBX7CL4RT")]))
    assert keys(log([_template_result(line, value)])) == first


def test_two_results_of_one_template_in_one_file_stay_two_findings():
    data = log([_template_result(7, "AKIAQ3M8HV2NBX7CL4RT"), _template_result(9, "AKIAZ")])
    assert len(set(keys(data))) == 2


@pytest.mark.parametrize(
    ("text", "template"),
    [
        (
            "AWS key AKIAIOSFODNN7EXAMPLE in src/config.py at line 12",
            "AWS key <secret> in <path> at line <n>",
        ),
        ("token ghp_1234567890abcdefghijABCDEFGHIJ123456 leaked", "token <secret> leaked"),
        (
            "request 123e4567-e89b-12d3-a456-426614174000 by bob@example.com",
            "request <hex> by <email>",
        ),
        ("see https://example.com/x?y=1 and C:\\src\\a.cs:3", "see <uri> and <path>"),
        (
            "GHSA-jfh8-c2jp-5v3q in requests 2.19.0 (CWE-79)",
            "GHSA-jfh8-c2jp-5v3q in requests <n> (CWE-79)",
        ),
        ("use_of_md5_v2   found", "use_of_md5_v2 found"),
    ],
)
def test_message_template_masks_values_and_keeps_names(text, template):
    assert message_template(None, text) == template


@given(st.text(max_size=300))
def test_message_template_never_crashes_and_is_idempotent(text):
    once = message_template(None, text)
    assert message_template(None, once) == once


def test_message_template_is_linear_on_hostile_text():
    message_template(None, "a" * 60_000 + "/" + "1" * 60_000 + "@" * 60_000)


# -- lost ------------------------------------------------------------------------------------


def test_results_that_name_nothing_are_lost_with_their_pointer():
    readable = {"ruleId": "R0", "message": {"text": "m"}, "locations": at()}
    nameless = [
        {"locations": at()},
        {"message": {}, "properties": {"commit": "abc"}, "locations": at()},
        {"message": {"text": "   "}},
    ]
    result, findings = parse(log([readable, *nameless], rules=RULES))
    assert len(findings) == 1
    lost = [i for i in result.skipped if i.lost_finding]
    assert [(i.pointer, i.reason) for i in lost] == [
        ("/runs/0/results/1", "no_rule"),
        ("/runs/0/results/2", "no_rule"),
        ("/runs/0/results/3", "no_rule"),
    ]


# -- suppressions and result kinds -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "suppressed", "suppression"),
    [
        ({"suppressions": [{"kind": "inSource"}]}, True, "inSource"),
        (
            {"suppressions": [{"kind": "external", "status": "accepted", "justification": "ok"}]},
            True,
            "external: ok",
        ),
        ({"suppressions": [{"kind": "external", "status": "underReview"}]}, False, ""),
        ({"suppressions": [{"kind": "inSource", "status": "rejected"}]}, False, ""),
        (
            {"suppressions": [{"kind": "inSource"}, {"kind": "external", "status": "rejected"}]},
            False,
            "",
        ),
        ({"suppressions": [{"kind": "inSource", "status": "someday"}]}, False, ""),
        ({"suppressions": []}, False, ""),
        ({"suppressions": None}, False, ""),
        ({"suppressionStates": ["suppressedInSource"]}, True, "suppressedInSource"),
        ({"suppressionStates": ["suppressedExternally"]}, True, "suppressedExternally"),
        ({"suppressions": [{"kind": "suppressionRejected"}]}, False, ""),
        ({"suppressions": [], "suppressionStates": ["suppressedInSource"]}, False, ""),
    ],
)
def test_suppressions_in_every_documented_form(extra, suppressed, suppression):
    entry = {"ruleId": "R0", "message": {"text": "m"}, "locations": at()} | extra
    _, [finding] = parse(log([entry]))
    assert (finding.suppressed, finding.suppression) == (suppressed, suppression)


def test_kinds_that_are_no_findings_are_suppressed_not_lost():
    results = [
        {"ruleId": "R0", "kind": kind, "message": {"text": kind}}
        for kind in ("pass", "notApplicable", "informational", "open", "review", "fail")
    ]
    result, findings = parse(log(results))
    assert [f.message for f in findings] == ["open", "review", "fail"]
    assert [(i.pointer, i.suppressed, i.lost_finding) for i in result.skipped] == [
        ("/runs/0/results/0", True, False),
        ("/runs/0/results/1", True, False),
        ("/runs/0/results/2", True, False),
    ]


def test_rules_only_in_an_extension_referenced_by_index():
    tool = {
        "driver": {"name": "CodeQL", "rules": []},
        "extensions": [
            {"name": "codeql/python-queries", "rules": [{"id": "py/sql-injection"}]},
            {"name": "codeql/js-queries", "rules": [{"id": "js/xss"}, {"id": "js/eval"}]},
        ],
    }
    results = [
        {"rule": {"index": 1, "toolComponent": {"index": 1}}, "message": {"text": "m"}},
        {"rule": {"index": 0, "toolComponent": {"name": "codeql/python-queries"}}},
        {"rule": {"index": 7, "toolComponent": {"index": 1}}, "message": {"text": "m at 3"}},
    ]
    data = json.dumps({"version": "2.1.0", "runs": [{"tool": tool, "results": results}]})
    result, findings = parse(data.encode())
    assert [f.rule_id for f in findings] == ["js/eval", "py/sql-injection", "m at <n>"]
    assert not [i for i in result.skipped if i.lost_finding]
