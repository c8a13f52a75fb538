"""CycloneDX SBOM / VEX parsers: JSON (cyclonedx-json, spec 1.2–1.7) and XML (cyclonedx-xml,
spec 1.0–1.7).

Mapping rules are documented in `_cdx`; XML safety and streaming in `_cdx_xml`.

Reading happens in two passes over the stream: the first collects metadata, components and
the dependency graph (components are needed to resolve `affects` refs, and JSON does not fix
whether "vulnerabilities" comes before or after "components"); the second, run lazily while
`findings` is iterated, streams the vulnerabilities. parse() therefore seeks: a non-seekable
stream is spooled to a temporary file first, and the stream must stay open until `findings`
is exhausted. Syntax errors anywhere in the file raise ParseError from parse() itself, since
the first pass reads the whole document.

Vulnerabilities are read from the 1.4+ `vulnerabilities` element (JSON and XML) and, in XML,
from the 1.0 vulnerability extension namespace that BOMs of spec 1.1–1.3 used (inside
components or at the BOM level); its dependency-graph extension gives 1.1 BOMs their graph.
Extension vulnerabilities inside components are collected in the first pass.

Detection: JSON needs `"bomFormat": "CycloneDX"`, or, because serialisers such as
cyclonedx-python-lib write bomFormat after the component list (beyond a 64 KiB head), a
"bom-ref" key next to a "components"/"dependencies"/"vulnerabilities" key. XML needs a root
element named bom declared in a http://cyclonedx.org/schema/bom/ namespace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._cdx import Inventory, InventoryBuilder, VulnerabilityMapper, check_spec_version
from ._cdx_xml import (
    GRAPH_EXT,
    VULN_EXT,
    XmlBom,
    component_dict,
    dependency_dict,
    ext_vulnerability_dict,
    metadata_dict,
    vulnerability_dict,
)
from ._jsonstream import Rewindable, iter_array, walk
from ._sbom import quoted
from .base import NormalizedFinding, ParseError, Parser, ParseResult, ReportTarget

JSON_FORMAT = "cyclonedx-json"
XML_FORMAT = "cyclonedx-xml"

_BOM_FORMAT = re.compile(r'(?<!\\)"bomFormat"\s*:\s*"CycloneDX"')
_BOM_REF = re.compile(r'(?<!\\)"bom-ref"\s*:')
_CDX_KEYS = re.compile(r'(?<!\\)"(?:components|dependencies|vulnerabilities)"\s*:\s*\[')
_XML_TAG = re.compile(r"<(?![?!])([^\s>/]+)([^>]*)")
_XML_NS = "http://cyclonedx.org/schema/bom/"

_JSON_PASS1 = (
    "bomFormat",
    "specVersion",
    "serialNumber",
    "metadata",
    "components.item",
    "dependencies.item",
)
_JSON_ARRAYS = ("components", "dependencies", "vulnerabilities")
_XML_PASS1 = frozenset(
    {
        ("metadata",),
        ("components", "component"),
        ("dependencies", "dependency"),
        (f"{GRAPH_EXT}dependencies", f"{GRAPH_EXT}dependency"),
    }
)
_XML_EXT_VULNS = (f"{VULN_EXT}vulnerabilities", f"{VULN_EXT}vulnerability")
_XML_PASS2 = frozenset({("vulnerabilities", "vulnerability"), _XML_EXT_VULNS})


def head_text(head: bytes) -> str:
    """The head as text without a BOM or leading whitespace (truncation-tolerant)."""
    return head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")


def looks_like_cyclonedx_json(head: bytes) -> bool:
    text = head_text(head)
    if not text.startswith("{"):
        return False
    if _BOM_FORMAT.search(text):
        return True
    return bool(_BOM_REF.search(text) and _CDX_KEYS.search(text))


def looks_like_cyclonedx_xml(head: bytes) -> bool:
    text = head_text(head)
    if not text.startswith("<"):
        return False
    root = _XML_TAG.search(text)
    if root is None:
        return False
    local = root.group(1).rpartition(":")[2]
    return local == "bom" and _XML_NS in root.group(2)


class CycloneDxJsonParser(Parser):
    """CycloneDX JSON 1.2–1.7 (SBOM, SBOM with vulnerabilities, standalone VEX)."""

    format = JSON_FORMAT
    label = "CycloneDX JSON (1.2–1.7)"
    repeatable = False  # components
    expects = "`bomFormat` CycloneDX (or `bom-ref` with `components`)"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        return looks_like_cyclonedx_json(head)

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = Rewindable(stream)
        inventory = _json_inventory(doc)
        return _result(JSON_FORMAT, inventory, _json_findings(doc, inventory))


class CycloneDxXmlParser(Parser):
    """CycloneDX XML 1.2–1.7, read with defusedxml."""

    format = XML_FORMAT
    label = "CycloneDX XML (1.0–1.7)"
    shape = "xml"
    expects = "<bom> in a http://cyclonedx.org/schema/bom/1.x namespace"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        return looks_like_cyclonedx_xml(head)

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = XmlBom(Rewindable(stream).rewind(), XML_FORMAT)
        nested: list[dict[str, Any]] = []
        inventory = _xml_inventory(doc, nested)
        return _result(XML_FORMAT, inventory, _xml_findings(doc, inventory, nested))


def _result(fmt: str, inventory: Inventory, findings: Iterator[NormalizedFinding]) -> ParseResult:
    subject = inventory.subject
    return ParseResult(
        format=fmt,
        tool_name=inventory.tool_name,
        tool_version=inventory.tool_version,
        findings=findings,
        components=iter(inventory.components),
        skipped=inventory.issues,
        target=subject and ReportTarget("component", subject.purl or subject.name),
    )


def _json_inventory(doc: Rewindable) -> Inventory:
    builder = InventoryBuilder()
    header: dict[str, Any] = {}
    for prefix, where, value in walk(doc.rewind(), JSON_FORMAT, _JSON_PASS1, _JSON_ARRAYS):
        if prefix == "components.item":
            builder.add_component(value, where)
        elif prefix == "dependencies.item":
            builder.add_dependency(value, where)
        elif prefix == "metadata":
            builder.add_metadata(value, where)
        else:
            header[prefix] = value
    _check_json_header(header)
    serial = header.get("serialNumber")
    return builder.finish(serial if isinstance(serial, str) else "")


def _check_json_header(header: dict[str, Any]) -> None:
    bom_format = header.get("bomFormat")
    if bom_format is None:
        raise ParseError(JSON_FORMAT, "bomFormat is missing: not a CycloneDX BOM")
    if bom_format != "CycloneDX":
        message = f"bomFormat is {quoted(bom_format)}, expected 'CycloneDX'"
        raise ParseError(JSON_FORMAT, message, pointer="/bomFormat")
    check_spec_version(JSON_FORMAT, header.get("specVersion"), "/specVersion")


def _json_findings(doc: Rewindable, inventory: Inventory) -> Iterator[NormalizedFinding]:
    mapper = VulnerabilityMapper(inventory)
    for where, vuln in iter_array(doc.rewind(), JSON_FORMAT, "vulnerabilities"):
        yield from mapper.findings(vuln, where)


def _xml_inventory(doc: XmlBom, nested: list[dict[str, Any]]) -> Inventory:
    """Metadata, components and dependencies; extension vulnerabilities found inside
    components are appended to `nested`."""
    builder = InventoryBuilder()
    for path, node in doc.nodes(_XML_PASS1):
        where = f"line:{node.line}"
        if path == ("metadata",):
            builder.add_metadata(metadata_dict(node), where)
        elif path == ("components", "component"):
            component = component_dict(node)
            nested.extend(_ext_vulnerabilities(component))
            builder.add_component(component, where)
        else:
            builder.add_dependency(dependency_dict(node), where)
    return builder.finish(doc.serial)


def _ext_vulnerabilities(component: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The extension vulnerabilities of a component and its nested components."""
    stack = [component]
    while stack:
        current = stack.pop()
        yield from current.pop("_ext_vulnerabilities", [])
        stack.extend(c for c in current.get("components", []) if isinstance(c, dict))


def _xml_findings(
    doc: XmlBom, inventory: Inventory, nested: list[dict[str, Any]]
) -> Iterator[NormalizedFinding]:
    mapper = VulnerabilityMapper(inventory)
    for vuln in nested:
        yield from mapper.findings(vuln, f"line:{vuln['_line']}")
    for path, node in doc.nodes(_XML_PASS2):
        convert = ext_vulnerability_dict if path == _XML_EXT_VULNS else vulnerability_dict
        yield from mapper.findings(convert(node), f"line:{node.line}")
