"""Mapping rules of the layouts older and other tool versions write: gitleaks v6/v7, trufflehog
v2/v3, trivy legacy and k8s, grype before 0.13, CycloneDX XML 1.0/1.1 extensions, SPDX
tag-value, and the unknown-format candidates. Pure Python, no database."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from apps.findings.parsers import (
    HEAD_BYTES,
    UnknownFormat,
    detect_parser,
    detection_candidates,
    get_parser,
    registry,
)
from apps.findings.parsers.base import NormalizedFinding, ParseError, ParseResult
from tests.findings.parsers.fidelity import SCANS

AWS = "AKIAZ3MSJV4WWNKWW5FG"
SECRET = "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"


def parse(fmt: str, data: bytes) -> tuple[ParseResult, list[NormalizedFinding]]:
    result = get_parser(fmt).parse(io.BytesIO(data))
    return result, list(result.findings)


def read(path: str) -> bytes:
    return (SCANS / path).read_bytes()


def _text_of(finding: NormalizedFinding) -> str:
    return repr(finding)


# --- gitleaks v6/v7 -------------------------------------------------------------------------


def test_gitleaks_v7_maps_to_the_v8_rules_and_keeps_no_secret() -> None:
    result, findings = parse("gitleaks", read("gitleaks/real/v7.6.1-repo.json"))
    first, second, third = findings
    assert (first.rule_id, first.title, first.path, first.start_line) == (
        "AWS Access Key",
        "AWS Access Key",
        "app/settings.py",
        4,
    )
    assert first.secret_hash == hashlib.sha256(AWS.encode()).hexdigest()
    assert first.properties["tags"] == "key,AWS" and first.properties["repo"] == "sample_project"
    assert "entropy" not in first.properties  # -1 means not checked
    assert second.properties["entropy"] == "4.84"
    assert third.path == "web/server.js"
    for finding in findings:
        assert AWS not in _text_of(finding).replace(finding.secret_hash, "")
        assert SECRET not in _text_of(finding)
    assert result.skipped == []


def test_gitleaks_v6_and_v8_give_the_same_location_for_the_same_leak() -> None:
    _, v6 = parse("gitleaks", read("gitleaks/real/v6.2.0-repo.json"))
    _, v8 = parse("gitleaks", read("gitleaks/real/v8.18.4-git.json"))
    assert (v6[0].path, v6[0].start_line, v6[0].secret_hash) == (
        v8[0].path,
        v8[0].start_line,
        v8[0].secret_hash,
    )


def test_gitleaks_detection_needs_two_legacy_keys() -> None:
    assert get_parser("gitleaks").detect(b'[{"offender": "x", "rule": "r", "file": "f"}]')
    assert not get_parser("gitleaks").detect(b'[{"offender": "x"}]')


# --- trufflehog -----------------------------------------------------------------------------


def test_trufflehog_v3_fields_verification_and_no_secret() -> None:
    result, findings = parse("trufflehog", read("trufflehog/real/v3.88.0-git-with-log.jsonl"))
    unverified, verified = findings
    assert (unverified.rule_id, unverified.path, unverified.start_line) == (
        "AWS",
        "app/settings.py",
        4,
    )
    assert unverified.severity == "high" and verified.severity == "critical"
    assert verified.properties["verified"] == "true"
    assert "no such host" in unverified.properties["verification_error"]
    assert unverified.secret_hash == hashlib.sha256(f"{AWS}:{SECRET}".encode()).hexdigest()
    assert unverified.resource == "https://git.example.com/shop/sample_project.git"
    for finding in findings:
        assert AWS not in _text_of(finding) and SECRET not in _text_of(finding)
    assert [issue.lost_finding for issue in result.skipped] == [False, False]


def test_trufflehog_without_detector_name_uses_the_type_number() -> None:
    _, findings = parse("trufflehog", read("trufflehog/real/v3.4.3-git.jsonl"))
    assert findings[0].rule_id == "2" and findings[0].title == "2 secret"


def test_trufflehog_legacy_lines() -> None:
    _, findings = parse("trufflehog", read("trufflehog/real/v2.2.1-legacy.jsonl"))
    assert [f.rule_id for f in findings] == ["AWS API Key", "High Entropy"]
    assert findings[0].properties["commit"].startswith("6f2b8a3c")
    assert all(AWS not in _text_of(f) and SECRET not in _text_of(f) for f in findings)


def test_trufflehog_truncated_line_is_a_parse_error() -> None:
    data = read("trufflehog/real/v3.63.0-filesystem.jsonl")
    with pytest.raises(ParseError) as error:
        parse("trufflehog", data[: len(data) - 40])
    assert error.value.pointer == "line:2" and AWS not in str(error.value)


def test_trufflehog_log_records_are_warnings() -> None:
    record = json.dumps({"level": "info-0", "logger": "trufflehog", "msg": "running source"})
    result, findings = parse("trufflehog", (record + "\n").encode())
    assert findings == [] and [i.lost_finding for i in result.skipped] == [False]


# --- trivy ----------------------------------------------------------------------------------


def test_trivy_legacy_image_result_names_the_image() -> None:
    _, findings = parse("trivy", read("trivy/real/legacy-0.18.3-image.json"))
    assert [f.kind for f in findings] == ["container", "container", "sca"]
    assert findings[0].resource == "registry.example.com/shop:1.4.0"
    assert findings[2].path == "app/requirements.txt"
    assert findings[0].fixed_versions == ("1.1.22-r3",)


def test_trivy_legacy_misconfiguration_reads_iac_metadata_and_skips_pass() -> None:
    _, findings = parse("trivy", read("trivy/real/legacy-0.19.2-fs.json"))
    iac = [f for f in findings if f.kind == "iac"]
    assert [(f.rule_id, f.start_line, f.resource) for f in iac] == [
        ("AWS006", 14, "aws_security_group.ssh")
    ]


def test_trivy_new_check_ids_keep_the_avd_identity() -> None:
    _, findings = parse("trivy", read("trivy/real/schema2-0.69.1-fs.json"))
    assert [f.rule_id for f in findings if f.kind == "iac"] == ["AVD-AWS-0107"]


@pytest.mark.parametrize("name", ["k8s-0.35.0-cluster.json", "k8s-0.50.1-cluster.json"])
def test_trivy_k8s_findings_name_their_resource(name: str) -> None:
    result, findings = parse("trivy", read(f"trivy/real/{name}"))
    assert {f.resource for f in findings} == {"shop/Deployment/web"}
    assert sorted(f.kind for f in findings) == ["container", "iac", "sca"]
    assert all(f.properties["k8s_resource"] == "shop/Deployment/web" for f in findings)
    lost = [issue for issue in result.skipped if issue.lost_finding]
    assert len(lost) == (1 if "0.35" in name else 0)


def test_trivy_legacy_and_k8s_are_detected() -> None:
    for name in ("legacy-0.18.3-image.json", "k8s-0.35.0-cluster.json", "k8s-0.50.1-cluster.json"):
        assert detect_parser(read(f"trivy/real/{name}")[:HEAD_BYTES]).format == "trivy"


# --- grype ----------------------------------------------------------------------------------


def test_grype_before_0_13_reads_old_vulnerability_keys() -> None:
    result, findings = parse("grype", read("grype/real/v0.3.0-dir.json"))
    requests = findings[0]
    assert requests.fixed_versions == ("2.20.0",)
    assert {c.version for c in requests.cvss} == {"2.0", "3.0"}
    assert requests.references == ("https://nvd.nist.gov/vuln/detail/CVE-2018-18074",)
    assert requests.properties["matcher"] == "python-matcher"
    assert requests.path == "requirements.txt" and result.tool_version == ""


def test_grype_0_12_image_source() -> None:
    _, findings = parse("grype", read("grype/real/v0.12.1-image.json"))
    assert findings[0].kind == "container"
    assert findings[0].resource == "registry.example.com/shop:1.4.0"


# --- CycloneDX XML 1.0/1.1 ------------------------------------------------------------------


def test_cyclonedx_1_0_components_without_bom_refs() -> None:
    result = get_parser("cyclonedx-xml").parse(
        io.BytesIO(read("cyclonedx/real/requirements-cdxbom3.11.7-1.0.xml"))
    )
    components = list(result.components)
    assert [c.purl for c in components] == [
        "pkg:pypi/jinja2@2.10",
        "pkg:pypi/requests@2.19.0",
        "pkg:pypi/urllib3@1.23",
    ]
    assert result.tool_name == "cyclonedx"


def test_cyclonedx_1_1_vulnerability_and_dependency_graph_extensions() -> None:
    result, findings = parse("cyclonedx-xml", read("cyclonedx/ext-vulnerability-1.1.xml"))
    (finding,) = findings
    assert finding.rule_id == "CVE-2018-18074" and finding.severity == "high"
    assert finding.component is not None and finding.component.purl == "pkg:pypi/requests@2.19.0"
    assert finding.cwes == (522,) and finding.cvss[0].score == 7.5
    graph = {c.name: c.depends_on for c in result.components}
    assert graph["requests"] == ("pkg:pypi/urllib3@1.23",)


# --- SPDX tag-value -------------------------------------------------------------------------


def test_spdx_tag_value_equals_its_json_twin() -> None:
    for spec in ("2.2", "2.3"):
        stem = f"spdx/real/requirements-spdxtools0.8.3-{spec}"
        tv = list(get_parser("spdx-tag-value").parse(io.BytesIO(read(f"{stem}.spdx"))).components)
        js = list(get_parser("spdx-json").parse(io.BytesIO(read(f"{stem}.spdx.json"))).components)
        assert tv == js


TAG_VALUE = b"""SPDXVersion: SPDX-2.3
DataLicense: CC0-1.0
SPDXID: SPDXRef-DOCUMENT
Creator: Tool: syft-0.105.0
PackageName: demo
SPDXID: SPDXRef-demo
PackageVersion: 1.0
PackageComment: <text>a comment
that spans lines: with a colon</text>
ExternalRef: PACKAGE-MANAGER purl pkg:npm/demo@1.0
FileName: ./index.js
SPDXID: SPDXRef-File-index
PackageVersion: 9.9
Relationship: SPDXRef-DOCUMENT DESCRIBES SPDXRef-demo
"""


def test_spdx_tag_value_sections_and_text_blocks() -> None:
    result = get_parser("spdx-tag-value").parse(io.BytesIO(TAG_VALUE))
    (component,) = list(result.components)
    assert (component.name, component.version, component.purl) == (
        "demo",
        "1.0",
        "pkg:npm/demo@1.0",
    )
    assert (result.tool_name, result.tool_version) == ("syft", "0.105.0")
    assert result.skipped == []
    assert detect_parser(TAG_VALUE).format == "spdx-tag-value"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"DocumentName: x\nPackageName: a\n", "SPDXVersion is missing"),
        (b"SPDXVersion: SPDX-3.0\nSPDXID: SPDXRef-DOCUMENT\n", "not supported"),
        (b"SPDXVersion: SPDX-2.3\nPackageComment: <text>never closed\n", "never closed"),
    ],
)
def test_spdx_tag_value_errors(data: bytes, message: str) -> None:
    with pytest.raises(ParseError) as error:
        list(get_parser("spdx-tag-value").parse(io.BytesIO(data)).components)
    assert message in error.value.message


# --- detection candidates -------------------------------------------------------------------


def test_unknown_format_carries_a_reason_for_every_format() -> None:
    with pytest.raises(UnknownFormat) as error:
        detect_parser(b'{"runz": []}')
    reasons = {c["format"]: c["reason"] for c in error.value.candidates}
    assert set(reasons) == set(registry())
    assert reasons["sarif"].startswith("a JSON object (keys `runz`) without `runs`")


def test_candidates_say_matched_for_a_detected_head() -> None:
    head = read("sarif/real/bandit-1.8.6.sarif")[:HEAD_BYTES]
    reasons = {c["format"]: c["reason"] for c in detection_candidates(head)}
    assert reasons["sarif"] == "matched" and reasons["gitleaks"].startswith("a JSON object")


def test_spdx_2_2_json_wrapped_in_document_reads_the_same() -> None:
    data = read("spdx/real/requirements-spdxtools0.8.3-2.2.spdx.json")
    wrapped = json.dumps({"Document": json.loads(data)}).encode()
    plain = list(get_parser("spdx-json").parse(io.BytesIO(data)).components)
    assert list(get_parser("spdx-json").parse(io.BytesIO(wrapped)).components) == plain


def test_cyclonedx_xml_with_an_unknown_encoding_is_a_parse_error() -> None:
    data = read("cyclonedx/real/requirements-cdxbom3.11.7-1.0.xml").replace(b"UTF-8", b"UT-1F-8")
    with pytest.raises(ParseError) as error:
        parse("cyclonedx-xml", data)
    assert "encoding" in error.value.message


def test_trivy_k8s_summary_report_findings_list() -> None:
    full = json.loads(read("trivy/real/k8s-0.50.1-cluster.json"))
    summary = {"ClusterName": full["ClusterName"], "Findings": full["Resources"]}
    _, findings = parse("trivy", json.dumps(summary).encode())
    assert len(findings) == 3 and {f.resource for f in findings} == {"shop/Deployment/web"}
    assert detect_parser(json.dumps(summary).encode()).format == "trivy"
