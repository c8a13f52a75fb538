"""The hostile corpus (tests/fixtures/hostile/) through every parser, in process.

Every case is refused with a ParseError, or, by a format whose reports may legitimately be
empty or carry log lines (trufflehog skips non-JSON lines; checkov and detect-secrets accept
an object without results), read as an empty report: never another exception, never a
finding. Nesting past the limit is a TooDeep error that names where, the readers' memory no
longer grows with the square of the depth, and a flood of skipped results is kept bounded.
"""

from __future__ import annotations

import io
import tracemalloc

import pytest

from apps.findings.counts import import_counts
from apps.findings.parsers import ParseError, TooDeep, get_parser, input_limits, registry
from apps.findings.parsers.base import KEPT_ISSUES, Issues, ParseIssue
from tests.fixtures.hostile.corpus import CDX, cases

CASES = cases()
# Formats that read some of these bytes as a valid report with nothing in it.
LENIENT = {"trufflehog", "checkov", "detect-secrets", "gitleaks", "trivy"}


def _read(fmt: str, data: bytes) -> tuple[int, int]:
    result = get_parser(fmt).parse(io.BytesIO(data))
    return len(list(result.findings)), len(list(result.components))


@pytest.mark.parametrize("fmt", sorted(registry()))
def test_every_case_is_refused_or_empty(fmt):
    accepted = []
    for name, data in CASES.items():
        try:
            findings, components = _read(fmt, data)
        except ParseError:
            continue
        assert (findings, components) == (0, 0), name
        accepted.append(name)
    assert not accepted or fmt in LENIENT, accepted


DEEP = {
    "cdx-deep-component.json": ("cyclonedx-json", "/components/0"),
    "cdx-deep-vulnerability.json": ("cyclonedx-json", "/vulnerabilities/0"),
    "json-deep-129.json": ("cyclonedx-json", "/components/0"),
    "sarif-deep.json": ("sarif", "/runs/0/results/0"),
    "trivy-deep.json": ("trivy", "/Results/0/Vulnerabilities/0"),
    "trivy-legacy-deep.json": ("trivy", "/0/Vulnerabilities/0" + "/0" * 125),
    "grype-deep.json": ("grype", "/matches/0"),
    "spdx-deep.json": ("spdx-json", "/packages/0"),
    "checkov-deep.json": ("checkov", "/results/failed_checks/0"),
    "gitleaks-deep.json": ("gitleaks", "/0/Match" + "/0" * 126),
    "detect-secrets-deep.json": ("detect-secrets", "/results"),
    "trufflehog-deep.jsonl": ("trufflehog", "line:1"),
    "xml-deep.xml": ("cyclonedx-xml", "line:3"),
}


@pytest.mark.parametrize("name", sorted(DEEP))
def test_nesting_past_the_limit_is_too_deep_with_a_pointer(name):
    fmt, where = DEEP[name]
    with pytest.raises(TooDeep) as caught:
        _read(fmt, CASES[name])
    assert caught.value.limit == 128
    assert caught.value.pointer == where
    assert "nested deeper than 128 levels" in caught.value.message


def test_the_limit_is_the_one_in_force_and_exact():
    def nested(depth: int) -> bytes:  # `depth` containers in all, the top-level object first
        return CDX + b'"metadata": {"x": ' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"

    with input_limits(max_depth=10):
        _read("cyclonedx-json", nested(10))
        with pytest.raises(TooDeep) as caught:
            _read("cyclonedx-json", nested(11))
    assert caught.value.limit == 10
    _read("cyclonedx-json", nested(128))
    with pytest.raises(TooDeep):
        _read("cyclonedx-json", nested(129))


@pytest.mark.parametrize(
    "fmt, data",
    [
        ("cyclonedx-json", CDX + b'"components": [{"name": "a", "x": ' + b"[" * 100_000),
        ("gitleaks", b'[{"RuleID": "r", "Match": ' + b"[" * 100_000),
        ("trivy", b'[{"Target": "t", "Vulnerabilities": ' + b"[" * 100_000),
        ("sarif", b'{"version": "2.1.0", "runs": [{"results": [{"message": ' + b"[" * 100_000),
    ],
)
def test_a_deep_document_costs_little_memory(fmt, data):
    """ijson's prefixed events held a whole buffer of ever longer prefixes (~21 GB for a 200 KB
    document); the readers now stop at the limit having held a few hundred kilobytes."""
    tracemalloc.start()
    try:
        with pytest.raises(TooDeep):
            _read(fmt, data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


def test_a_flood_of_skipped_results_is_kept_bounded_and_counted_exactly():
    """A 14 MB report of log lines or empty objects made millions of ParseIssues (~1 GB in
    the web worker); now the first KEPT_ISSUES of each kind are kept, the rest counted."""
    lines = b"not json\n" * 50_000 + b'{"SourceMetadata": {"Data": {}}, "Raw": 1, "x": [}\n'
    with pytest.raises(ParseError):  # the broken last line still fails the report
        _read("trufflehog", lines)
    logged = b"not json\n" * 50_000 + b'{"level": "info-0", "msg": "finished scanning"}\n'
    result = get_parser("trufflehog").parse(io.BytesIO(logged))
    assert list(result.findings) == []
    assert len(result.skipped) == KEPT_ISSUES
    counts = import_counts(result.skipped, imported=0, suppressed=0)
    assert counts["warnings"] == 50_001
    # Without a single JSON object line the file is not trufflehog output at all.
    with pytest.raises(ParseError, match="no line holds a JSON object"):
        _read("trufflehog", b"not json\n" * 10)

    bom = CDX + b'"components": [' + b"{}," * 20_000 + b'{"name": "a", "version": "1"}]}'
    result = get_parser("cyclonedx-json").parse(io.BytesIO(bom))
    assert [c.name for c in result.components] == ["a"]
    assert len(result.skipped) == KEPT_ISSUES
    assert import_counts(result.skipped, imported=0, suppressed=0)["warnings"] == 20_000


def test_lost_results_are_kept_whatever_the_warnings_before_them():
    issues = Issues(ParseIssue("", "w", lost_finding=False) for _ in range(KEPT_ISSUES + 5))
    issues.append(ParseIssue("/9", "lost"))
    assert [issue.pointer for issue in issues if issue.lost_finding] == ["/9"]
    counts = import_counts(issues, imported=1, suppressed=0)
    assert (counts["lost"], counts["warnings"], counts["results"]) == (1, KEPT_ISSUES + 5, 2)


@pytest.mark.parametrize(
    ("fmt", "document", "message"),
    [
        ("detect-secrets", b'{"bomFormat": "CycloneDX", "specVersion": "1.5"}', "no `results`"),
        ("trufflehog", b"<?xml version='1.0'?>\n<bom/>\n", "no line holds a JSON object"),
        ("checkov", b'{"bomFormat": "CycloneDX"}', "not a checkov report"),
        ("trivy", b'[{"bomFormat": "CycloneDX"}]', "must have a Target"),
    ],
)
def test_a_forced_format_refuses_another_document_instead_of_importing_nothing(
    fmt, document, message
):
    """`format=` overrides detection, so the parser itself must know its own reports: another
    document is a 400, never a scan of zero findings that would close every open one."""
    with pytest.raises(ParseError, match=message):
        _read(fmt, document)
