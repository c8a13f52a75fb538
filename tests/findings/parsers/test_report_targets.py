"""What each parser says was scanned (ParseResult.target) and the stream target it becomes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.findings.parsers.base import ParseResult
from apps.findings.targets import normalise

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
IMAGE = "registry.example.com/demo-shop"


def parsed(raw: bytes, fmt: str = "") -> ParseResult:
    parser = get_parser(fmt) if fmt else detect_parser(raw[:HEAD_BYTES])
    result = parser.parse(io.BytesIO(raw))
    list(result.findings)  # the target may be known only once the findings are read
    list(result.components)
    return result


def target_of(raw: bytes, fmt: str = "") -> str:
    return normalise(parsed(raw, fmt).target)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("trivy/image-debian-python.json", IMAGE),
        ("trivy/fs-demo-shop.json", "."),
        ("grype/image-demo-shop.json", IMAGE),
        ("grype/dir-demo-shop.json", "."),
        ("spdx/image-demo-shop-2.3.spdx.json", IMAGE),
        ("spdx/sbom4python-requests.spdx.json", "Python-requests"),
        ("cyclonedx/env-1.6.cdx.json", "demo-shop"),
        ("cyclonedx/env-1.4.cdx.xml", "demo-shop"),
        ("cyclonedx/pip-audit-1.4.cdx.json", ""),  # no metadata.component
        ("checkov/terraform.json", "terraform"),
        ("checkov/multi_framework.json", "dockerfile,secrets,terraform"),
        ("sarif/semgrep.sarif", ""),  # no automationDetails
        ("gitleaks/report.json", ""),  # gitleaks never names what it scanned
    ],
)
def test_fixture_targets(fixture, expected):
    assert target_of((FIXTURES / fixture).read_bytes()) == expected


def test_an_image_and_its_sbom_name_the_same_target():
    image = target_of((FIXTURES / "trivy/image-debian-python.json").read_bytes())
    sbom = target_of((FIXTURES / "spdx/image-demo-shop-2.3.spdx.json").read_bytes())
    assert image == sbom == IMAGE


def trivy(name: str, kind: str = "container_image") -> bytes:
    return json.dumps(
        {"SchemaVersion": 2, "ArtifactName": name, "ArtifactType": kind, "Results": []}
    ).encode()


def test_trivy_image_releases_share_a_target():
    assert target_of(trivy("localhost:5000/shop/api:1.2")) == "localhost:5000/shop/api"
    assert target_of(trivy("localhost:5000/shop/api:1.3")) == "localhost:5000/shop/api"
    assert target_of(trivy("./services/api/", "filesystem")) == "services/api"


def grype(source: dict) -> bytes:
    return json.dumps({"matches": [], "source": source, "descriptor": {"name": "grype"}}).encode()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"type": "image", "target": {"userInput": "alpine:3.18", "imageID": "sha256:1"}},
            "alpine",
        ),
        ({"type": "image", "target": {"name": "ghcr.io/o/app:v1"}}, "ghcr.io/o/app"),
        ({"type": "directory", "target": "./src/"}, "src"),
        ({"type": "directory", "target": {"path": "/work/app"}}, "/work/app"),
        ({"type": "sbom-file", "target": "sbom.json"}, "sbom.json"),
        ({}, ""),
    ],
)
def test_grype_source_target(source, expected):
    assert target_of(grype(source), "grype") == expected


def sarif(*automation_ids: str | None) -> bytes:
    runs = []
    for automation_id in automation_ids:
        run = {"tool": {"driver": {"name": "semgrep"}}, "results": []}
        if automation_id is not None:
            run["automationDetails"] = {"id": automation_id}
        runs.append(run)
    return json.dumps({"version": "2.1.0", "runs": runs}).encode()


def test_sarif_automation_details_category_of_the_first_run_that_has_one():
    assert target_of(sarif("backend/semgrep/2024-05-01T10:00")) == "backend/semgrep"
    assert target_of(sarif(None, "web/codeql/", "other/x")) == "web/codeql"
    assert target_of(sarif("run-17")) == ""


def spdx(**extra) -> bytes:
    document = {
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "shop-api:2.0",
        "creationInfo": {"creators": ["Tool: syft-1.0.0"]},
        "packages": [
            {
                "SPDXID": "SPDXRef-app",
                "name": "shop-api",
                "versionInfo": "2.0",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE-MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:npm/shop-api@2.0",
                    }
                ],
            }
        ],
        **extra,
    }
    return json.dumps(document).encode()


def test_spdx_described_package_purl_then_document_name():
    assert target_of(spdx(documentDescribes=["SPDXRef-app"])) == "pkg:npm/shop-api"
    assert target_of(spdx()) == "shop-api"  # the document's name, an image-like one untagged


def test_cyclonedx_subject_purl_without_version():
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {
            "component": {
                "type": "container",
                "name": "shop-api",
                "version": "sha256:abc",
                "purl": "pkg:oci/shop-api@sha256%3Aabc?repository_url=ghcr.io/o/shop-api&tag=2",
            }
        },
        "components": [],
    }
    assert target_of(json.dumps(bom).encode()) == "pkg:oci/shop-api"


def test_checkov_repo_id_and_check_types():
    report = [
        {"check_type": "terraform", "repo_id": "acme/infra", "results": {"failed_checks": []}},
        {"check_type": "kubernetes", "results": {"failed_checks": []}},
    ]
    assert target_of(json.dumps(report).encode(), "checkov") == "acme/infra:kubernetes,terraform"
