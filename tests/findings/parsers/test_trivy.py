"""trivy JSON parser: an image scan (os + language packages, a secret) and a filesystem scan
(packages, misconfigurations, secrets, licences), secret redaction, streaming and errors."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.findings.parsers.base import Component, Cvss, NormalizedFinding, ParseError, ParseResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans" / "trivy"
IMAGE = FIXTURES / "image-debian-python.json"
FS = FIXTURES / "fs-demo-shop.json"


class Parsed(NamedTuple):
    result: ParseResult
    components: list[Component]
    findings: list[NormalizedFinding]

    def finding(self, rule_id: str, kind: str | None = None) -> NormalizedFinding:
        return next(f for f in self.findings if f.rule_id == rule_id and kind in (None, f.kind))


def parse(data: bytes | Path) -> Parsed:
    raw = data.read_bytes() if isinstance(data, Path) else data
    result = get_parser("trivy").parse(io.BytesIO(raw))
    components = list(result.components)
    return Parsed(result, components, list(result.findings))


def report(results: list[dict[str, Any]], **header: Any) -> bytes:
    doc = {"SchemaVersion": 2, "ArtifactName": ".", "ArtifactType": "filesystem", **header}
    return json.dumps({**doc, "Results": results}).encode()


def test_image_scan() -> None:
    parsed = parse(IMAGE)

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("trivy", "0.50.1")
    assert parsed.components == [] and parsed.result.skipped == []
    assert [(f.kind, f.rule_id) for f in parsed.findings] == [
        ("container", "CVE-2023-4911"),
        ("container", "CVE-2023-5363"),
        ("container", "CVE-2023-31484"),
        ("container", "TEMP-0841856-B18BAF"),
        ("sca", "CVE-2018-18074"),
        ("sca", "CVE-2024-22195"),
        ("secret", "aws-access-key-id"),
    ]
    assert {f.resource for f in parsed.findings} == {"registry.example.com/demo-shop:1.4.0"}

    glibc = parsed.finding("CVE-2023-4911")
    assert glibc.vuln_ids == ("CVE-2023-4911", "DSA-5514-1")
    assert glibc.component == Component(
        name="libc6",
        version="2.36-9+deb12u1",
        purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12.2",
        type="library",
        ref="libc6@2.36-9+deb12u1",
    )
    assert glibc.path == ""  # an OS package has no file path of its own
    assert glibc.fixed_versions == ("2.36-9+deb12u3",)
    assert glibc.cwes == (122, 787)
    assert glibc.severity == "high"
    assert glibc.properties["status"] == "fixed"
    assert glibc.properties["severity_source"] == "debian"

    # trivy's own (Debian) severity wins over NVD's 8.1
    perl = parsed.finding("CVE-2023-31484")
    assert perl.severity == "low" and perl.cvss[0].score == 8.1
    assert perl.fixed_versions == () and perl.properties["status"] == "affected"
    # UNKNOWN with no CVSS at all
    assert parsed.finding("TEMP-0841856-B18BAF").severity == "info"
    assert parsed.finding("TEMP-0841856-B18BAF").properties["tool_severity"] == "UNKNOWN"


def test_image_language_packages_and_cvss_sources() -> None:
    parsed = parse(IMAGE)
    requests = parsed.finding("CVE-2018-18074")

    assert (
        requests.path == "usr/local/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA"
    )
    assert requests.component.purl == "pkg:pypi/requests@2.19.0"
    # SeveritySource (ghsa) first, then the other sources; V2 vectors are re-scored too
    assert requests.cvss == (
        Cvss("3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "ghsa"),
        Cvss("3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "nvd"),
        Cvss("2.0", "AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, "nvd"),
    )
    assert requests.references[0] == "https://avd.aquasec.com/nvd/cve-2018-18074"
    jinja = parsed.finding("CVE-2024-22195")
    assert [c.version for c in jinja.cvss] == ["4.0", "3.1"]
    assert jinja.cvss[0].vector.startswith("CVSS:4.0/AV:N/AC:L/AT:N")
    assert jinja.severity == "medium"


def test_image_secret_is_hashed_and_located() -> None:
    secret = parse(IMAGE).finding("aws-access-key-id")
    match = "AWS_ACCESS_KEY_ID=********************"

    assert secret.kind == "secret" and secret.severity == "critical"
    assert secret.path == "app/.env"  # absolute in-image path made relative
    assert (secret.start_line, secret.end_line) == (3, 3)
    assert secret.secret_hash == hashlib.sha256(match.encode()).hexdigest()
    assert secret.snippet == "" and secret.message == ""
    assert secret.properties == {"category": "AWS", "tool_severity": "CRITICAL"}


def test_filesystem_scan_packages_and_vulnerabilities() -> None:
    parsed = parse(FS)

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("trivy", "")
    assert [c.name for c in parsed.components] == [
        "requests",
        "certifi",
        "chardet",
        "idna",
        "urllib3",
        "jinja2",
        "markupsafe",
    ]
    assert parsed.components[0].depends_on == (
        "certifi@2023.7.22",
        "chardet@3.0.4",
        "idna@2.7",
        "urllib3@1.23",
    )
    assert parsed.components[0].ref == "requests@2.19.0"
    urllib3 = parsed.finding("CVE-2023-43804")
    assert urllib3.kind == "sca" and urllib3.resource == ""
    assert urllib3.path == "poetry.lock"
    assert urllib3.fixed_versions == ("1.26.17", "2.0.6")
    assert urllib3.component.ref == "urllib3@1.23"


def test_filesystem_scan_misconfigurations() -> None:
    parsed = parse(FS)
    iac = [f for f in parsed.findings if f.kind == "iac"]

    # DS005 is a PASS: not a finding
    assert [(f.rule_id, f.suppressed) for f in iac] == [
        ("AVD-DS-0002", False),
        ("AVD-DS-0001", False),
        ("AVD-DS-0026", True),
        ("AVD-AWS-0086", False),
    ]
    root_user = iac[0]
    assert (root_user.path, root_user.start_line, root_user.snippet) == ("Dockerfile", None, "")
    assert (
        root_user.message
        == "Specify at least 1 USER command in Dockerfile with non-root user as argument"
    )
    assert root_user.properties["id"] == "DS002"
    latest = iac[1]
    assert (latest.start_line, latest.end_line, latest.snippet) == (1, 1, "FROM python:latest")
    assert latest.severity == "medium"
    assert iac[2].suppression == "trivy-exception"
    s3 = iac[3]
    assert s3.path == "deploy/terraform/main.tf"
    assert s3.resource == "aws_s3_bucket.data"
    assert (s3.start_line, s3.end_line) == (12, 16)
    assert s3.snippet.splitlines()[0] == 'resource "aws_s3_bucket" "data" {'
    assert s3.properties["provider"] == "AWS" and s3.properties["service"] == "s3"


def test_filesystem_scan_secret_and_licences() -> None:
    parsed = parse(FS)
    pat = parsed.finding("github-pat")

    assert pat.path == "demo_shop/settings/local.py" and pat.start_line == 7
    assert len(pat.secret_hash) == 64
    assert [(i.pointer, i.message) for i in parsed.result.skipped] == [
        ("/Results/4/Licenses", "2 licence findings not imported (not a security finding)")
    ]


RAW_SECRET = "ghp_Zx8VQmLq3T0pR7sKd2NfH5jW9cYbA1eU4gXo"


def _unmasked_secret_report() -> bytes:
    line = f'token = "{RAW_SECRET}"'
    secret = {
        "RuleID": "github-pat",
        "Category": "GitHub",
        "Severity": "CRITICAL",
        "Title": "GitHub Personal Access Token",
        "StartLine": 2,
        "EndLine": 2,
        "Code": {"Lines": [{"Number": 2, "Content": line, "IsCause": True, "Highlighted": line}]},
        "Match": line,
        "Offset": 17,
    }
    return report([{"Target": "/src/app/config.py", "Class": "secret", "Secrets": [secret]}])


def test_a_raw_secret_never_reaches_the_output() -> None:
    parsed = parse(_unmasked_secret_report())
    (finding,) = parsed.findings

    assert finding.secret_hash == hashlib.sha256(f'token = "{RAW_SECRET}"'.encode()).hexdigest()
    everything = repr((parsed.findings, parsed.components, parsed.result))
    assert RAW_SECRET not in everything
    assert RAW_SECRET[4:20] not in everything


def test_a_raw_secret_never_reaches_a_parse_error() -> None:
    broken = _unmasked_secret_report().replace(b'"Match":', b'"Match" ')
    with pytest.raises(ParseError) as error:
        parse(broken)
    assert RAW_SECRET not in str(error.value) and RAW_SECRET not in error.value.message
    assert error.value.pointer == "/Results/0/Secrets/0"


def test_result_header_after_its_lists_is_still_applied() -> None:
    vuln = {
        "VulnerabilityID": "CVE-1",
        "PkgName": "zlib",
        "InstalledVersion": "1.2",
        "Severity": "HIGH",
    }
    payload = json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": "img:1",
            "ArtifactType": "container_image",
            "Results": [
                {"Vulnerabilities": [vuln], "Target": "img:1 (alpine 3.19)", "Class": "os-pkgs"},
                {"Vulnerabilities": [vuln], "Target": "legacy without class"},
            ],
        }
    ).encode()
    parsed = parse(payload)
    assert [(f.kind, f.resource) for f in parsed.findings] == [
        ("container", "img:1"),
        ("sca", "img:1"),
    ]


def test_invalid_cvss_vector_and_invalid_purl_are_recorded() -> None:
    vuln = {
        "VulnerabilityID": "CVE-2",
        "PkgName": "x",
        "InstalledVersion": "1",
        "PkgIdentifier": {"PURL": "pkg:"},
        "Severity": "UNKNOWN",
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:Q", "V3Score": 7.2}},
    }
    parsed = parse(
        report(
            [{"Target": "go.sum", "Class": "lang-pkgs", "Type": "gomod", "Vulnerabilities": [vuln]}]
        )
    )
    (finding,) = parsed.findings
    assert finding.cvss == (Cvss("3.1", "", 7.2, "nvd"),)
    assert finding.severity == "high"  # UNKNOWN -> band of the remaining score
    assert finding.component.purl == ""
    pointers = [i.pointer for i in parsed.result.skipped]
    assert pointers == [
        "/Results/0/Vulnerabilities/0/PkgIdentifier/PURL",
        "/Results/0/Vulnerabilities/0/CVSS/nvd/V3Vector",
    ]


def test_entries_without_ids_are_reported() -> None:
    parsed = parse(
        report(
            [
                {
                    "Target": "a",
                    "Class": "lang-pkgs",
                    "Vulnerabilities": [{"PkgName": "x"}, "junk"],
                },
                {"Target": "b", "Class": "config", "Misconfigurations": [{"Status": "FAIL"}]},
                {"Target": "c", "Class": "secret", "Secrets": [{"Match": "x"}]},
            ]
        )
    )
    assert parsed.findings == []
    assert [(i.pointer, i.message) for i in parsed.result.skipped] == [
        ("/Results/0/Vulnerabilities/0", "vulnerability has no VulnerabilityID; skipped"),
        ("/Results/0/Vulnerabilities/1", "Vulnerabilities entry is not an object; skipped"),
        ("/Results/1/Misconfigurations/0", "misconfiguration has no ID; skipped"),
        ("/Results/2/Secrets/0", "secret has no RuleID; skipped"),
    ]


def test_clean_scan_without_results() -> None:
    parsed = parse(
        json.dumps({"SchemaVersion": 2, "ArtifactName": "x", "ArtifactType": "filesystem"}).encode()
    )
    assert parsed.findings == [] and parsed.components == []


def _cut_before(marker: bytes) -> bytes:
    data = FS.read_bytes()
    return data[: data.index(marker)]


@pytest.mark.parametrize(
    ("payload", "message", "pointer"),
    [
        (
            json.dumps({"SchemaVersion": 1, "Results": []}).encode(),
            "SchemaVersion 1 is not supported",
            "/SchemaVersion",
        ),
        (json.dumps({"ArtifactName": "x", "Results": []}).encode(), "SchemaVersion is missing", ""),
        (json.dumps(["old trivy"]).encode(), "a trivy result must be a JSON object", "/0"),
        (
            json.dumps([{"Target": "x", "Vulnerabilities": 3}]).encode(),
            "`Vulnerabilities` must be an array",
            "/0/Vulnerabilities",
        ),
        (report({"Target": "x"}), "`Results` must be an array", "/Results"),
        (
            report([{"Target": "x", "Vulnerabilities": {"a": 1}}]),
            "`Vulnerabilities` must be an array",
            "/Results/0/Vulnerabilities",
        ),
        (FS.read_bytes()[:6000], "invalid or truncated JSON", "/Results/0/Vulnerabilities/1"),
        (_cut_before(b'"Name": "markupsafe"'), "premature EOF", "/Results/0/Packages/6"),
    ],
)
def test_errors(payload: bytes, message: str, pointer: str) -> None:
    with pytest.raises(ParseError) as error:
        parse(payload)
    assert error.value.format == "trivy"
    assert message in error.value.message
    assert error.value.pointer == pointer


@pytest.mark.parametrize("path", [IMAGE, FS], ids=lambda p: p.name)
def test_detection(path: Path) -> None:
    assert detect_parser(path.read_bytes()[:HEAD_BYTES]).format == "trivy"


def test_a_legacy_list_of_objects_without_target_is_refused_not_imported_as_empty():
    """`format=trivy` forced on another tool's array (a list of SBOMs, say) must not pass as a
    scan with nothing in it: every trivy result names its Target."""
    document = [{"Target": "app (debian 12)", "Vulnerabilities": None}, {"bomFormat": "CycloneDX"}]
    with pytest.raises(ParseError, match="must have a Target") as caught:
        result = get_parser("trivy").parse(io.BytesIO(json.dumps(document).encode()))
        list(result.findings)
    assert caught.value.pointer == "/1"
