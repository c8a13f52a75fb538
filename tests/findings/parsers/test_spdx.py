"""SPDX 2.3 JSON parser: a real sbom4python document, a trivy-layout image SBOM with every
relationship kind, version gating (2.2 accepted, 2.1 and SPDX 3 JSON-LD refused) and errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.findings.parsers.base import Component, ParseError, ParseResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans" / "spdx"
IMAGE = FIXTURES / "image-demo-shop-2.3.spdx.json"
SBOM4PYTHON = FIXTURES / "sbom4python-requests.spdx.json"


def parse(data: bytes | Path) -> tuple[ParseResult, list[Component]]:
    raw = data.read_bytes() if isinstance(data, Path) else data
    result = get_parser("spdx-json").parse(io.BytesIO(raw))
    components = list(result.components)
    assert list(result.findings) == []  # SPDX 2.x carries no vulnerabilities
    return result, components


def document(**fields: Any) -> bytes:
    base = {
        "spdxVersion": "SPDX-2.3",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "t",
        "creationInfo": {"creators": ["Tool: unit-1.0"], "created": "2024-01-01T00:00:00Z"},
    }
    return json.dumps({**base, **fields}).encode()


def test_sbom4python_document() -> None:
    result, components = parse(SBOM4PYTHON)

    assert (result.tool_name, result.tool_version) == ("sbom4python", "0.12.6")
    assert [c.name for c in components] == ["requests", "certifi", "chardet", "idna", "urllib3"]
    requests = components[0]
    assert requests == Component(
        name="requests",
        version="2.19.0",
        purl="pkg:pypi/requests@2.19.0",
        type="application",
        ref="SPDXRef-1-requests",
        cpe="cpe:2.3:a:kenneth_reitz:requests:2.19.0:*:*:*:*:*:*:*",
        licenses=("Apache-2.0",),  # licenseDeclared NOASSERTION is dropped
        depends_on=(
            "SPDXRef-2-certifi",
            "SPDXRef-3-chardet",
            "SPDXRef-4-idna",
            "SPDXRef-5-urllib3",
        ),
    )
    # chardet CONTAINS files: files are not components, so no edges
    assert components[2].depends_on == ()
    assert result.skipped == []


def test_image_sbom_relationships_purls_and_cpes() -> None:
    result, components = parse(IMAGE)
    by_ref = {c.ref.removeprefix("SPDXRef-"): c for c in components}

    assert (result.tool_name, result.tool_version) == ("trivy", "0.50.1")
    assert len(components) == 12
    edges = {ref: c.depends_on for ref, c in by_ref.items() if c.depends_on}
    assert edges == {
        "ContainerImage-9f3c2a1b": ("SPDXRef-OperatingSystem-5d1e", "SPDXRef-Application-python"),
        "OperatingSystem-5d1e": (
            "SPDXRef-Package-musl",
            "SPDXRef-Package-libcrypto3",
            "SPDXRef-Package-busybox",
        ),
        "Package-busybox": ("SPDXRef-Package-musl",),
        "Application-python": (
            "SPDXRef-Package-requests",
            "SPDXRef-Package-Jinja2",
            "SPDXRef-Package-internal",
        ),
        # DEPENDS_ON forward, DEPENDENCY_OF reversed; GENERATED_FROM, the file and the
        # external DocumentRef are not dependency edges between packages of this document
        "Package-requests": ("SPDXRef-Package-urllib3", "SPDXRef-Package-idna"),
        "Package-Jinja2": ("SPDXRef-Package-MarkupSafe",),  # RUNTIME_DEPENDENCY_OF reversed
    }
    assert by_ref["ContainerImage-9f3c2a1b"].type == "container"
    assert by_ref["OperatingSystem-5d1e"].type == "operating-system"
    assert by_ref["Package-urllib3"].purl == "pkg:pypi/urllib3@1.23"  # PACKAGE_MANAGER spelling
    assert by_ref["Package-Jinja2"].purl == "pkg:pypi/jinja2@2.10"  # canonicalised
    assert by_ref["Package-musl"].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=3.18.4"
    assert by_ref["Package-requests"].cpe == "cpe:/a:python:requests:2.19.0"  # cpe22Type
    assert by_ref["Package-libcrypto3"].cpe.startswith("cpe:2.3:a:openssl:openssl:3.1.3")
    assert by_ref["Package-internal"].purl == "" and by_ref["Package-internal"].licenses == ()
    assert [(i.pointer, i.message) for i in result.skipped] == [
        (
            "/packages/11/externalRefs/0/referenceLocator",
            "invalid purl 'pkg:/internal-utils@0.3.0' (purl is missing the required type "
            "component: 'pkg:/internal-utils@0.3.0'.); ignored",
        )
    ]


def test_relationships_before_packages_give_the_same_graph() -> None:
    doc = json.loads(IMAGE.read_bytes())
    reordered = {"relationships": doc.pop("relationships"), **doc}
    assert parse(json.dumps(reordered).encode())[1] == parse(IMAGE)[1]


def test_spdx_2_2_is_read_like_2_3() -> None:
    doc = json.loads(SBOM4PYTHON.read_bytes())
    doc["spdxVersion"] = "SPDX-2.2"
    assert parse(json.dumps(doc).encode())[1] == parse(SBOM4PYTHON)[1]


def test_tool_without_version_and_without_tool() -> None:
    no_version = document(
        creationInfo={"creators": ["Organization: GitHub", "Tool: GitHub.com-Dependency-Graph"]}
    )
    assert parse(no_version)[0].tool_name == "github.com-dependency-graph"
    assert parse(no_version)[0].tool_version == ""
    person_only = document(creationInfo={"creators": ["Person: Jane Doe"]})
    assert parse(person_only)[0].tool_name == "spdx"


def test_skipped_packages_and_duplicate_ids() -> None:
    payload = document(
        packages=[
            {"SPDXID": "SPDXRef-a", "name": "a"},
            "not-a-package",
            {"SPDXID": "SPDXRef-b"},
            {"SPDXID": "SPDXRef-a", "name": "again"},
        ]
    )
    result, components = parse(payload)
    assert [c.name for c in components] == ["a", "again"]
    assert [(i.pointer, i.message) for i in result.skipped] == [
        ("/packages/1", "package is not an object; skipped"),
        ("/packages/2", "package has no name; skipped"),
        ("/packages/3", "duplicate SPDXID 'SPDXRef-a' (first at /packages/0)"),
    ]


def _cut_inside_certifi() -> bytes:
    data = SBOM4PYTHON.read_bytes()
    return data[: data.index(b'"name": "certifi"')]


SPDX3 = json.dumps(
    {
        "@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld",
        "@graph": [
            {"type": "SpdxDocument", "spdxId": "urn:spdx.dev:doc-1"},
            {"type": "software_Package", "spdxId": "urn:spdx.dev:pkg-1", "name": "x"},
        ],
    }
).encode()


@pytest.mark.parametrize(
    ("payload", "message", "pointer"),
    [
        (SPDX3, "SPDX 3 JSON-LD is not supported", "/@context"),
        (
            document(spdxVersion="SPDX-2.1"),
            "spdxVersion 'SPDX-2.1' is not supported",
            "/spdxVersion",
        ),
        (
            json.dumps({"SPDXID": "SPDXRef-DOCUMENT", "packages": []}).encode(),
            "spdxVersion is missing",
            "",
        ),
        (document(packages={"name": "x"}), "`packages` must be an array", "/packages"),
        (document(relationships="DESCRIBES"), "`relationships` must be an array", "/relationships"),
        (SBOM4PYTHON.read_bytes()[:3000], "invalid or truncated JSON", "/files"),
        (_cut_inside_certifi(), "premature EOF", "/packages/1"),
        (b"\xff\xfe{}", "invalid or truncated JSON", ""),
    ],
)
def test_errors(payload: bytes, message: str, pointer: str) -> None:
    with pytest.raises(ParseError) as error:
        parse(payload)
    assert error.value.format == "spdx-json"
    assert message in error.value.message
    assert error.value.pointer == pointer


def test_spdx3_is_detected_so_the_user_gets_the_clear_error() -> None:
    assert detect_parser(SPDX3[:HEAD_BYTES]).format == "spdx-json"


@pytest.mark.parametrize("path", [IMAGE, SBOM4PYTHON], ids=lambda p: p.name)
def test_detection(path: Path) -> None:
    assert detect_parser(path.read_bytes()[:HEAD_BYTES]).format == "spdx-json"
