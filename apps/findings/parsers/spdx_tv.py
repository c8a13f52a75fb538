"""SPDX 2.x tag-value documents (spdx-tag-value): component inventory and graph, no findings.

The text format of SPDX (`SPDXVersion: SPDX-2.3`, one `Tag: value` per line, multi-line
values between `<text>` and `</text>`, `#` comments). Sections are positional: a package
begins at `PackageName:` and its fields follow until the next `PackageName:`, `FileName:`,
`SnippetSPDXID:` or `LicenseID:` (file, snippet and licence sections are not components).
`Relationship:` and document fields may appear anywhere.

Each package is read into the JSON layout (`PackageName` -> name, `PackageVersion` ->
versionInfo, `SPDXID`, `ExternalRef: <category> <type> <locator>` -> externalRefs,
`PackageLicenseConcluded`/`PackageLicenseDeclared`, `PrimaryPackagePurpose`;
`Relationship: <a> <TYPE> <b>` -> relationships; `Creator: Tool: name-version` ->
creationInfo.creators) and mapped by the SPDX JSON rules (`spdx`), so both spellings of a
document give the same components. Versions: SPDX-2.1 to SPDX-2.3 (the tags read here are the
same in all three).

Errors: no `SPDXVersion` tag, or an unsupported one, is a ParseError; an unterminated
`<text>` block is a ParseError at its line. Lines that are not `Tag: value` are warnings.
Input is decoded as UTF-8 (invalid bytes are replaced).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._sbom import quoted
from .base import Issues, ParseError, ParseIssue, Parser, ParseResult
from .spdx import _components, _edge, _tool, _with_edges

FORMAT = "spdx-tag-value"
SUPPORTED = ("SPDX-2.1", "SPDX-2.2", "SPDX-2.3")
_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\s*:\s?(.*)$")
_VERSION_LINE = re.compile(rb"^\s*SPDXVersion\s*:\s*SPDX-\d", re.MULTILINE)
_DOC_LINE = re.compile(rb"^\s*(?:DataLicense|SPDXID|DocumentName|DocumentNamespace)\s*:", re.M)
_SECTION_ENDS = frozenset({"FileName", "SnippetSPDXID", "LicenseID"})
_PACKAGE_TAGS = {
    "SPDXID": "SPDXID",
    "PackageVersion": "versionInfo",
    "PackageLicenseConcluded": "licenseConcluded",
    "PackageLicenseDeclared": "licenseDeclared",
    "PrimaryPackagePurpose": "primaryPackagePurpose",
}
_MAX_ISSUES = 100


class SpdxTagValueParser(Parser):
    """SPDX 2.x tag-value (`.spdx`) documents."""

    format = FORMAT
    label = "SPDX 2.x tag-value"
    priority = 10
    shape = "text"
    expects = "SPDX tag-value text (`SPDXVersion: SPDX-2.x`)"

    @classmethod
    def detect(cls, head: bytes) -> bool:
        return bool(_VERSION_LINE.search(head) and _DOC_LINE.search(head))

    def parse(self, stream: BinaryIO) -> ParseResult:
        issues: list[ParseIssue] = Issues()
        document = _read(stream, issues)
        version = document["spdxVersion"]
        if not version:
            raise ParseError(FORMAT, "SPDXVersion is missing: not an SPDX tag-value document")
        if version not in SUPPORTED:
            message = f"SPDXVersion {quoted(version)} is not supported (SPDX-2.1 to SPDX-2.3)"
            raise ParseError(FORMAT, message, pointer=document["version_at"])
        components = _components(document["packages"], issues)
        known = {c.ref for c in components if c.ref}
        edges: dict[str, list[str]] = {}
        for rel in document["relationships"]:
            edge = _edge(rel)
            if edge and edge[0] in known and edge[1] in known and edge[0] != edge[1]:
                edges.setdefault(edge[0], []).append(edge[1])
        graph = {src: tuple(dict.fromkeys(dsts)) for src, dsts in edges.items()}
        tool_name, tool_version = _tool({"creators": document["creators"]})
        return ParseResult(
            format=FORMAT,
            tool_name=tool_name,
            tool_version=tool_version,
            components=iter([_with_edges(c, graph) for c in components]),
            skipped=issues,
        )


def _read(stream: BinaryIO, issues: list[ParseIssue]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "spdxVersion": "",
        "version_at": "",
        "creators": [],
        "packages": [],
        "relationships": [],
    }
    package: dict[str, Any] | None = None
    for number, tag, value in _tags(stream, issues):
        if tag == "PackageName":
            package = {"name": value, "externalRefs": []}
            document["packages"].append((f"line:{number}", package))
        elif tag in _SECTION_ENDS:
            package = None
        elif tag == "SPDXVersion" and not document["spdxVersion"]:
            document["spdxVersion"], document["version_at"] = value, f"line:{number}"
        elif tag == "Creator":
            document["creators"].append(value)
        elif tag == "Relationship":
            parts = value.split()
            if len(parts) >= 3:
                document["relationships"].append(
                    {
                        "spdxElementId": parts[0],
                        "relationshipType": parts[1],
                        "relatedSpdxElement": parts[2],
                    }
                )
        elif package is not None:
            _package_field(package, tag, value)
    return document


def _package_field(package: dict[str, Any], tag: str, value: str) -> None:
    if tag == "ExternalRef":
        parts = value.split(None, 2)
        if len(parts) == 3:
            package["externalRefs"].append(
                {
                    "referenceCategory": parts[0],
                    "referenceType": parts[1],
                    "referenceLocator": parts[2],
                }
            )
    elif tag in _PACKAGE_TAGS and _PACKAGE_TAGS[tag] not in package:
        package[_PACKAGE_TAGS[tag]] = value


def _tags(stream: BinaryIO, issues: list[ParseIssue]) -> Iterator[tuple[int, str, str]]:
    """(line number, tag, value) of each tag; `<text>` values are joined across lines."""
    pending: tuple[int, str, list[str]] | None = None
    for number, raw in enumerate(stream, start=1):
        line = raw.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
        if pending is not None:
            start, tag, parts = pending
            end = line.find("</text>")
            if end < 0:
                parts.append(line)
                continue
            parts.append(line[:end])
            pending = None
            yield start, tag, "\n".join(parts).strip()
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _TAG.match(stripped)
        if match is None:
            if len(issues) < _MAX_ISSUES:
                issues.append(ParseIssue(f"line:{number}", "not a `Tag: value` line", False))
            continue
        tag, value = match.group(1), match.group(2).strip()
        if value.startswith("<text>"):
            rest = value[len("<text>") :]
            end = rest.find("</text>")
            if end >= 0:
                yield number, tag, rest[:end].strip()
            else:
                pending = (number, tag, [rest])
            continue
        yield number, tag, value
    if pending is not None:
        raise ParseError(FORMAT, "<text> block is never closed", pointer=f"line:{pending[0]}")
