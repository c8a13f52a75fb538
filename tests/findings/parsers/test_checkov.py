"""checkov native JSON parser: real checkov 3.3.30 output (one framework, several frameworks,
nothing scanned), a hand-made SCA report, and hostile input. Pure Python, no database."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser, path_context
from apps.findings.parsers.base import NormalizedFinding, ParseError, ParseResult
from apps.findings.parsers.checkov import CheckovParser
from apps.findings.parsers.gitleaks import GitleaksParser
from apps.findings.parsers.sarif import SarifParser

SCANS = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
CHECKOV = SCANS / "checkov"
FAILED0 = "/results/failed_checks/0"
SKIP_COMMENT = "Logs volume holds no sensitive data; encryption tracked in OPS-12"


def parse(source: str | bytes, **kwargs) -> tuple[ParseResult, list[NormalizedFinding]]:
    data = (CHECKOV / source).read_bytes() if isinstance(source, str) else source
    result = CheckovParser(**kwargs).parse(io.BytesIO(data))
    return result, list(result.findings)


def report(*failed: dict, **summary) -> bytes:
    return json.dumps(
        {
            "check_type": "terraform",
            "results": {"passed_checks": [], "failed_checks": list(failed), "skipped_checks": []},
            "summary": {"checkov_version": "3.3.30", **summary},
        }
    ).encode()


def check(**fields) -> dict:
    base = {
        "check_id": "CKV_AWS_20",
        "check_name": "S3 Bucket has an ACL defined which allows public READ access.",
        "check_result": {"result": "FAILED"},
        "file_path": "/main.tf",
        "file_abs_path": "/work/tf/main.tf",
        "file_line_range": [5, 8],
        "resource": "aws_s3_bucket.data",
        "severity": None,
        "guideline": None,
    }
    return base | fields


# -- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["terraform.json", "multi_framework.json", "empty.json", "sca_package.json"]
)
def test_checkov_reports_are_detected(name):
    head = (CHECKOV / name).read_bytes()[:HEAD_BYTES]
    assert detect_parser(head).format == "checkov"
    assert not SarifParser.detect(head) and not GitleaksParser.detect(head)


def test_checkov_sarif_is_sarif_not_checkov():
    head = (SCANS / "sarif" / "checkov.sarif").read_bytes()[:HEAD_BYTES]
    assert not CheckovParser.detect(head)
    assert detect_parser(head).format == "sarif"


@pytest.mark.parametrize(
    "path", sorted([*(SCANS / "sarif").rglob("*.sarif"), *(SCANS / "gitleaks").rglob("*.json")])
)
def test_checkov_detector_does_not_claim_other_formats(path):
    assert not CheckovParser.detect(path.read_bytes()[:HEAD_BYTES])


def test_detection_with_a_head_cut_inside_the_first_check():
    data = (CHECKOV / "multi_framework.json").read_bytes()
    assert CheckovParser.detect(data[:120])
    assert not CheckovParser.detect(b'{"passed": 0, "failed": 0}')


# -- real output -------------------------------------------------------------------------


def test_terraform_report():
    result, findings = parse("terraform.json")
    assert (result.tool_name, result.tool_version) == ("checkov", "3.3.30")
    assert len(findings) == 12  # 11 failed + 1 skipped; 10 passed checks are not findings
    first = findings[0]
    assert (first.kind, first.tool, first.rule_id) == ("iac", "checkov", "CKV_AWS_24")
    assert first.title == "Ensure no security groups allow ingress from 0.0.0.0:0 to port 22"
    assert (first.path, first.start_line, first.end_line) == ("main.tf", 10, 21)
    assert first.resource == "aws_security_group.ssh"
    assert first.snippet.startswith('resource "aws_security_group" "ssh" {\n')
    assert (first.severity, first.properties) == (
        "medium",
        {"check_type": "terraform", "severity_defaulted": "true"},
    )
    assert first.fingerprints == {} and first.references == ()
    assert first.pointer == "/results/failed_checks/0"
    skipped = findings[-1]
    assert (skipped.rule_id, skipped.suppressed) == ("CKV_AWS_3", True)
    assert skipped.suppression == f"skipped: {SKIP_COMMENT}"
    assert skipped.pointer == "/results/skipped_checks/0"
    assert sum(f.suppressed for f in findings) == 1
    assert {f.path for f in findings} == {"main.tf"}  # never the /tmp file_abs_path


def test_several_frameworks_in_a_list():
    result, findings = parse("multi_framework.json")
    assert result.tool_version == "3.3.30" and len(findings) == 16
    assert findings[0].pointer == "/0/results/failed_checks/0"
    by_type: dict[str, list[NormalizedFinding]] = {}
    for finding in findings:
        by_type.setdefault(finding.properties["check_type"], []).append(finding)
    assert {k: len(v) for k, v in by_type.items()} == {
        "dockerfile": 2,
        "secrets": 2,
        "terraform": 12,
    }
    assert {f.path for f in by_type["dockerfile"]} == {"Dockerfile"}
    secrets = by_type["secrets"]
    assert [(f.kind, f.path, f.start_line, f.snippet) for f in secrets] == [
        ("secret", "settings.tf", 2, ""),
        ("secret", "settings.tf", 3, ""),
    ]
    assert secrets[0].resource == "25910f981e85ca04baf359199dd0bd4a3ae738b6"


def test_nothing_scanned_gives_no_findings():
    result, findings = parse("empty.json")
    assert findings == [] and result.tool_version == "3.3.30" and result.skipped == []


def test_sca_report():
    result, (cve, skipped) = parse("sca_package.json")
    assert (cve.kind, cve.vuln_ids, cve.severity) == ("sca", ("CVE-2024-6345",), "high")
    assert cve.title == "CVE-2024-6345 - setuptools: 65.5.0"
    assert (cve.component.name, cve.component.version) == ("setuptools", "65.5.0")
    assert cve.fixed_versions == ("70.0.0",) and cve.path == "requirements.txt"
    assert [(c.version, c.score) for c in cve.cvss] == [("3.1", 8.8)]
    assert cve.references == ("https://nvd.nist.gov/vuln/detail/CVE-2024-6345",)
    assert (skipped.severity, skipped.suppression) == ("medium", "skipped: Filtered by severity")
    assert [(i.pointer, i.message) for i in result.skipped] == [
        ("/results/parsing_errors/0", "checkov could not parse /broken/requirements-dev.txt")
    ]


# -- mapping rules on generated checks -----------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "expected", "defaulted"),
    [
        ("CRITICAL", "critical", False),
        ("IMPORTANT", "high", False),
        ("MODERATE", "medium", False),
        ("LOW", "low", False),
        ("NONE", "info", False),
        (None, "medium", True),
        ("bogus", "medium", True),
    ],
)
def test_severity_mapping(severity, expected, defaulted):
    _, [finding] = parse(report(check(severity=severity)))
    assert finding.severity == expected
    assert ("severity_defaulted" in finding.properties) is defaulted


def test_guideline_is_a_reference():
    url = "https://docs.prismacloud.io/en/enterprise-edition/policy-reference/aws-policies/x"
    _, [finding] = parse(report(check(guideline=url)))
    assert finding.references == (url,)


def test_really_absolute_paths_follow_the_resolution_order():
    absolute = check(file_path="/work/tf/main.tf", file_abs_path="/work/tf/main.tf")
    _, [finding] = parse(report(absolute))
    assert (finding.path, finding.original_path) == ("work/tf/main.tf", "/work/tf/main.tf")
    _, [finding] = parse(report(absolute), paths=path_context(roots=["/work/tf/"]))
    assert (finding.path, finding.original_path) == ("main.tf", "/work/tf/main.tf")


def test_run_from_the_root_the_scanned_directory_is_the_last_resort():
    """checkov -d /opt/scan/iac from "/": repo_file_path is as absolute as file_abs_path."""
    absolute = check(
        file_path="/net/vpc.tf",
        repo_file_path="/opt/scan/iac/net/vpc.tf",
        file_abs_path="/opt/scan/iac/net/vpc.tf",
    )
    _, [finding] = parse(report(absolute))
    assert finding.path == "net/vpc.tf"
    _, [finding] = parse(report(absolute), paths=path_context(source_root="/opt/scan"))
    assert finding.path == "iac/net/vpc.tf"


def test_leading_slash_paths_are_relative_not_container_mounts():
    """ "/src/main.tf" from checkov is the repository's src/ directory (relative to the working
    directory), unless a configured root says the scanner ran there."""
    relative = check(repo_file_path="/src/main.tf", file_abs_path="/home/dev/shop/src/main.tf")
    _, [finding] = parse(report(relative))
    assert (finding.path, finding.original_path) == ("src/main.tf", "/src/main.tf")
    _, [finding] = parse(report(relative), paths=path_context(source_root="/src"))
    assert finding.path == "main.tf"


def test_climbing_paths_stop_at_the_root():
    _, findings = parse("hostile/traversal.json")
    assert findings[1].path == "etc/passwd"
    assert findings[1].original_path == "/../../etc/passwd"


def test_nested_module_paths_keep_their_directories():
    _, [finding] = parse(report(check(file_path="/modules/net/./vpc.tf")))
    assert finding.path == "modules/net/vpc.tf"


def test_check_without_id_is_skipped_and_reported():
    result, findings = parse(report(check(), check(check_id=None)))
    assert len(findings) == 1
    assert [(i.pointer, i.message) for i in result.skipped] == [
        ("/results/failed_checks/1", "check has no check_id")
    ]


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "pointer"),
    [
        ("hostile/truncated.json", "truncated", "/results/failed_checks/2"),
        ("hostile/wrong_schema.json", "results must be an object, got an array", "/results"),
    ],
)
def test_hostile_fixtures(name, message, pointer):
    with pytest.raises(ParseError) as caught:
        parse(name)
    assert caught.value.format == "checkov"
    assert message in caught.value.message and caught.value.pointer == pointer


@pytest.mark.parametrize(
    ("data", "message", "pointer"),
    [
        (b'"checkov"', "got a string", ""),
        (b"[1]", "a checkov report must be a JSON object, got a number", "/0"),
        (
            report("not a check"),
            "a check must be a JSON object, got a string",
            "/results/failed_checks/0",
        ),
        (
            report(check(file_path=7)),
            "file_path must be a string",
            "/results/failed_checks/0/file_path",
        ),
    ],
)
def test_generated_broken_reports(data, message, pointer):
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert message in caught.value.message and caught.value.pointer == pointer


def test_explicit_format_override_gives_the_same_parser():
    assert isinstance(get_parser("checkov"), CheckovParser)


@settings(max_examples=60)
@given(st.data())
def test_any_truncation_raises_parse_error(data):
    raw = (CHECKOV / "sca_package.json").read_bytes().rstrip()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(ParseError):
        parse(raw[:cut])


@given(st.lists(st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", None]), max_size=30))
def test_one_finding_per_failed_check(severities):
    checks = [check(check_id=f"CKV_X_{i}", severity=s) for i, s in enumerate(severities)]
    _, findings = parse(report(*checks))
    assert [f.rule_id for f in findings] == [c["check_id"] for c in checks]


@pytest.mark.parametrize(
    ("document", "where"),
    [({"name": "not checkov"}, ""), ([{"check_type": "terraform", "results": {}}, {"x": 1}], "/1")],
)
def test_an_object_with_none_of_checkovs_keys_is_refused_not_imported_as_empty(document, where):
    """With `format=checkov` forced, another tool's JSON object must not pass as an empty scan."""
    with pytest.raises(ParseError, match="not a checkov report") as caught:
        list(CheckovParser().parse(io.BytesIO(json.dumps(document).encode())).findings)
    assert caught.value.pointer == where
