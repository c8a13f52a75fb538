"""grype JSON parser: a directory scan (GHSA matches with CVE aliases, an ignored match with a
VEX rule) and an image scan (Debian packages, Negligible severity), detection and errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.findings.parsers.base import Cvss, NormalizedFinding, ParseError, ParseResult
from apps.findings.parsers.grype import GrypeParser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans" / "grype"
DIR = FIXTURES / "dir-demo-shop.json"
IMAGE = FIXTURES / "image-demo-shop.json"


class Parsed(NamedTuple):
    result: ParseResult
    findings: list[NormalizedFinding]

    def finding(self, rule_id: str) -> NormalizedFinding:
        return next(f for f in self.findings if f.rule_id == rule_id)


def parse(data: bytes | Path) -> Parsed:
    raw = data.read_bytes() if isinstance(data, Path) else data
    result = get_parser("grype").parse(io.BytesIO(raw))
    assert list(result.components) == []
    return Parsed(result, list(result.findings))


def match(vuln_id: str = "GHSA-1", severity: str = "High", **extra: Any) -> dict[str, Any]:
    artifact = {
        "id": "a1",
        "name": "lib",
        "version": "1.0",
        "type": "python",
        "locations": [{"path": "/requirements.txt"}],
        "purl": "pkg:pypi/lib@1.0",
        "cpes": [],
    }
    return {
        "vulnerability": {"id": vuln_id, "severity": severity, "cvss": [], **extra},
        "relatedVulnerabilities": [],
        "matchDetails": [],
        "artifact": artifact,
    }


def document(matches: list[Any], **fields: Any) -> bytes:
    doc = {
        "matches": matches,
        "source": {"type": "directory", "target": "."},
        "descriptor": {"name": "grype", "version": "0.74.7"},
        **fields,
    }
    return json.dumps(doc).encode()


def test_directory_scan() -> None:
    parsed = parse(DIR)

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("grype", "0.74.7")
    assert parsed.result.skipped == []
    assert [(f.rule_id, f.kind, f.severity, f.suppressed) for f in parsed.findings] == [
        ("GHSA-x84v-xcm2-53pg", "sca", "high", False),
        ("GHSA-462w-v97r-4m45", "sca", "high", False),
        ("GHSA-mh33-7rrq-662w", "sca", "high", False),  # Unknown -> related NVD 7.5
        ("GHSA-g4mx-q9vg-27p4", "sca", "medium", False),
        ("GHSA-h5c8-rqwp-cp95", "sca", "medium", True),  # ignoredMatches
    ]
    requests = parsed.finding("GHSA-x84v-xcm2-53pg")
    assert requests.vuln_ids == ("GHSA-x84v-xcm2-53pg", "CVE-2018-18074")
    assert requests.title == "GHSA-x84v-xcm2-53pg in requests 2.19.0"
    assert requests.path == "requirements.txt" and requests.resource == ""
    assert requests.pointer == "/matches/0"
    assert requests.component.purl == "pkg:pypi/requests@2.19.0"
    assert requests.component.cpe == "cpe:2.3:a:python-requests:requests:2.19.0:*:*:*:*:python:*:*"
    assert requests.fixed_versions == ("2.20.0",)
    assert requests.cvss == (
        Cvss(
            "3.1",
            "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
            5.3,
            "security-advisories@github.com",
        ),
        Cvss("2.0", "AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, "nvd@nist.gov"),
        Cvss("3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "nvd@nist.gov"),
    )
    assert requests.references[:2] == (
        "https://github.com/advisories/GHSA-x84v-xcm2-53pg",
        "https://nvd.nist.gov/vuln/detail/CVE-2018-18074",
    )
    assert requests.properties["matcher"] == "python-matcher"
    assert requests.properties["fix_state"] == "fixed"

    unknown = parsed.finding("GHSA-mh33-7rrq-662w")
    assert unknown.properties["tool_severity"] == "Unknown"
    assert unknown.message == "Improper Certificate Validation in urllib3"


def test_ignored_match_keeps_its_vex_statement() -> None:
    ignored = parse(DIR).finding("GHSA-h5c8-rqwp-cp95")

    assert ignored.suppressed and ignored.suppression == "grype-ignore-rule"
    assert (ignored.vex_state, ignored.vex_justification) == (
        "not_affected",
        "vulnerable_code_not_in_execute_path",
    )
    assert ignored.properties["ignore_reason"] == "xmlattr is never given user-controlled keys"
    assert ignored.pointer == "/ignoredMatches/0"


def test_image_scan() -> None:
    parsed = parse(IMAGE)

    assert [(f.rule_id, f.kind, f.severity) for f in parsed.findings] == [
        ("CVE-2023-4911", "container", "high"),
        ("CVE-2011-3374", "container", "info"),  # Negligible, although NVD says 3.7
        ("GHSA-x84v-xcm2-53pg", "sca", "high"),  # a Python package inside the image
    ]
    assert {f.resource for f in parsed.findings} == {"registry.example.com/demo-shop:1.4.0"}
    glibc = parsed.finding("CVE-2023-4911")
    assert glibc.vuln_ids == ("CVE-2023-4911",)  # the related NVD record has the same id
    assert glibc.path == "var/lib/dpkg/status"
    assert glibc.component.licenses == ("GPL-2.0-only", "LGPL-2.1-only")
    assert glibc.component.purl == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert glibc.fixed_versions == ("2.36-9+deb12u3",)
    apt = parsed.finding("CVE-2011-3374")
    assert apt.properties["tool_severity"] == "Negligible"
    assert apt.properties["fix_state"] == "wont-fix" and apt.fixed_versions == ()
    assert [c.version for c in apt.cvss] == ["2.0", "3.1"]
    in_image = parsed.finding("GHSA-x84v-xcm2-53pg")
    assert (
        in_image.path == "usr/local/lib/python3.11/site-packages/requests-2.19.0.dist-info/METADATA"
    )


@pytest.mark.parametrize(
    ("severity", "cvss", "expected"),
    [
        ("Critical", [], "critical"),
        ("Negligible", [], "info"),
        ("Unknown", [], "info"),
        (
            "",
            [
                {
                    "version": "3.1",
                    "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
                    "metrics": {"baseScore": 5.3},
                }
            ],
            "medium",
        ),
        (
            "Unknown",
            [{"version": "3.1", "vector": "not a vector", "metrics": {"baseScore": 9.1}}],
            "critical",
        ),
    ],
)
def test_severity_mapping(severity: str, cvss: list[dict[str, Any]], expected: str) -> None:
    (finding,) = parse(document([match(severity=severity, cvss=cvss)])).findings
    assert finding.severity == expected


def test_invalid_vector_and_purl_are_recorded() -> None:
    bad = match(cvss=[{"version": "3.1", "vector": "CVSS:3.1/AV:Z", "metrics": {"baseScore": 6.0}}])
    bad["artifact"]["purl"] = "not-a-purl"
    parsed = parse(document([bad]))
    (finding,) = parsed.findings
    assert finding.cvss == (Cvss("3.1", "", 6.0, ""),)
    assert finding.component.purl == ""
    assert [i.pointer for i in parsed.result.skipped] == [
        "/matches/0/artifact/purl",
        "/matches/0/vulnerability/cvss/0/vector",
    ]


def test_malformed_matches_are_reported_and_placeholder_version_dropped() -> None:
    payload = document(
        [{"artifact": {}}, match(vuln_id=""), match()],
        descriptor={"name": "grype", "version": "[not provided]"},
    )
    parsed = parse(payload)
    assert parsed.result.tool_version == ""
    assert len(parsed.findings) == 1
    assert [(i.pointer, i.message) for i in parsed.result.skipped] == [
        ("/matches/0", "match lacks a vulnerability or artifact; skipped"),
        ("/matches/1", "vulnerability has no id; skipped"),
    ]


def test_known_exploited_cwes() -> None:
    exploited = [{"cve": "CVE-1", "knownRansomwareCampaignUse": "Known", "cwes": ["CWE-502"]}]
    (finding,) = parse(document([match(knownExploited=exploited)])).findings
    assert finding.cwes == (502,)


@pytest.mark.parametrize(
    ("payload", "message", "pointer"),
    [
        (
            json.dumps({"source": {}, "descriptor": {"name": "grype"}}).encode(),
            "matches is missing",
            "",
        ),
        (document({"x": 1}), "`matches` must be an array", "/matches"),
        (DIR.read_bytes()[: DIR.read_bytes().index(b"GHSA-462w")], "premature EOF", "/matches/1"),
    ],
)
def test_errors(payload: bytes, message: str, pointer: str) -> None:
    with pytest.raises(ParseError) as error:
        parse(payload)
    assert error.value.format == "grype"
    assert message in error.value.message
    assert error.value.pointer == pointer


@pytest.mark.parametrize("path", [DIR, IMAGE], ids=lambda p: p.name)
def test_detection(path: Path) -> None:
    assert detect_parser(path.read_bytes()[:HEAD_BYTES]).format == "grype"


def test_detection_when_the_descriptor_is_beyond_the_head() -> None:
    many = json.loads(DIR.read_bytes())
    many["matches"] = many["matches"] * 40
    head = json.dumps(many, indent=1).encode()[:HEAD_BYTES]
    assert b'"descriptor"' not in head
    assert GrypeParser.detect(head)
    assert detect_parser(head).format == "grype"
