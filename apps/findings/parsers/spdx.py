"""SPDX 2.3 JSON parser (spdx-json): component inventory and dependency graph, no findings.

SPDX 2.x has no vulnerability section, so this parser yields components only.

Mapping rules:
- packages[] -> Component: name; versionInfo -> version; SPDXID -> ref; purl from the first
  valid externalRefs entry of category PACKAGE-MANAGER (or the PACKAGE_MANAGER spelling) and
  type purl, canonicalised (an invalid one is recorded as a ParseIssue); cpe from SECURITY
  cpe23Type, else cpe22Type; licenses = licenseConcluded, licenseDeclared without
  NOASSERTION/NONE; type = primaryPackagePurpose lower-cased ("" when absent).
- relationships[] -> depends_on. Forward (A -> B): DEPENDS_ON, CONTAINS, DESCRIBES.
  Reverse (B -> A): DEPENDENCY_OF, every *_DEPENDENCY_OF (build, dev, optional, provided,
  runtime, test), CONTAINED_BY, DESCRIBED_BY. Only edges between two packages of this document
  are kept: files, snippets, the document itself and DocumentRef-... elements are not
  components, so "SPDXRef-DOCUMENT DESCRIBES X" adds no edge (X, the subject, is still
  emitted like every package).
- creationInfo.creators: the first "Tool: name-version" -> tool_name (lower-cased) and
  tool_version; "spdx" when no tool is named.
- Versions: SPDX-2.3, and SPDX-2.2, whose JSON uses the same keys for everything read here
  (also inside the top-level "Document" object the first 2.2 JSON schema wrapped it in).
  Older versions and SPDX 3 JSON-LD (@context/@graph) are rejected with a ParseError; the
  detector claims SPDX 3 documents so the user gets that message rather than "unknown format".

Streaming: pass one reads the header and packages, pass two the relationships, keeping only
package-to-package edges, so file-level SBOMs with huge relationship lists stay cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, BinaryIO

from ._jsonstream import Rewindable, walk
from ._sbom import as_dict, as_list, purl_or_issue, quoted, split_tool, text, unique
from .base import Component, Issues, ParseError, ParseIssue, Parser, ParseResult, ReportTarget

FORMAT = "spdx-json"
FALLBACK_TOOL = "spdx"
SUPPORTED = ("SPDX-2.2", "SPDX-2.3")

_FORWARD = frozenset({"DEPENDS_ON", "CONTAINS", "DESCRIBES"})
_REVERSE = frozenset({"DEPENDENCY_OF", "CONTAINED_BY", "DESCRIBED_BY"})
_NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})
# the SPDX 2.2 JSON schema as first tagged wrapped the document in {"Document": {...}}
_WRAPPER = "Document"
_SPDX2 = re.compile(r'(?<!\\)"spdxVersion"\s*:\s*"SPDX-')
_SPDX_DOC = re.compile(r'(?<!\\)"SPDXID"\s*:\s*"SPDXRef-DOCUMENT"')
_SPDX3 = re.compile(r'(?<!\\)"@context"\s*:\s*"https?://spdx\.org/rdf/3')


class SpdxJsonParser(Parser):
    """SPDX 2.3 (and 2.2) JSON documents."""

    format = FORMAT
    label = "SPDX 2.3 JSON"
    repeatable = False  # packages become components
    expects = "`spdxVersion` SPDX-2.x / `SPDXID` SPDXRef-DOCUMENT"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        text_head = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
        if not text_head.startswith("{"):
            return False
        return any(p.search(text_head) for p in (_SPDX2, _SPDX_DOC, _SPDX3))

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = Rewindable(stream)
        issues: list[ParseIssue] = Issues()
        header, packages = _read_packages(doc)
        _check_version(header)
        components = _components(packages, issues)
        known = {c.ref for c in components if c.ref}
        edges = _edges(doc, known)
        tool_name, tool_version = _tool(as_dict(header.get("creationInfo")))
        return ParseResult(
            format=FORMAT,
            tool_name=tool_name,
            tool_version=tool_version,
            components=iter([_with_edges(c, edges) for c in components]),
            skipped=issues,
            target=_target(header, components),
        )


def _target(header: dict[str, Any], components: list[Component]) -> ReportTarget:
    """The package documentDescribes names first (its purl, else name), else the document's
    name (syft names it after the image or directory)."""
    described = {text(ref) for ref in as_list(header.get("documentDescribes"))}
    subject = next((c for c in components if c.ref and c.ref in described), None)
    if subject is not None:
        return ReportTarget("component", subject.purl or subject.name)
    return ReportTarget("component", text(header.get("name")))


def _read_packages(doc: Rewindable) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    header: dict[str, Any] = {}
    packages: list[tuple[str, Any]] = []
    items = (
        "spdxVersion",
        "@context",
        "creationInfo",
        "name",
        "documentDescribes",
        "packages.item",
    )
    arrays = ("packages", "relationships")
    items += tuple(f"{_WRAPPER}.{item}" for item in items)
    arrays += tuple(f"{_WRAPPER}.{item}" for item in arrays)
    for full, where, value in walk(doc.rewind(), FORMAT, items, arrays):
        prefix = full.removeprefix(f"{_WRAPPER}.")
        if prefix == "packages.item":
            packages.append((where, value))
        else:
            header[prefix] = value
    return header, packages


def _check_version(header: dict[str, Any]) -> None:
    version = header.get("spdxVersion")
    if version is None:
        if "@context" in header:
            message = "SPDX 3 JSON-LD is not supported; export SPDX 2.3 JSON instead"
            raise ParseError(FORMAT, message, pointer="/@context")
        raise ParseError(FORMAT, "spdxVersion is missing: not an SPDX 2.x JSON document")
    if version not in SUPPORTED:
        message = f"spdxVersion {quoted(version)} is not supported (SPDX-2.3, SPDX-2.2)"
        raise ParseError(FORMAT, message, pointer="/spdxVersion")


def _tool(creation: dict[str, Any]) -> tuple[str, str]:
    for creator in as_list(creation.get("creators")):
        kind, _, who = text(creator).partition(":")
        if kind.strip() == "Tool" and who.strip():
            name, version = split_tool(who)
            return name.lower(), version
    return FALLBACK_TOOL, ""


def _components(packages: list[tuple[str, Any]], issues: list[ParseIssue]) -> list[Component]:
    out: list[Component] = []
    first_at: dict[str, str] = {}
    for where, package in packages:
        component = _component(package, where, issues)
        if component is None:
            continue
        if component.ref:
            first = first_at.setdefault(component.ref, where)
            if first != where:
                message = f"duplicate SPDXID {quoted(component.ref)} (first at {first})"
                issues.append(ParseIssue(where, message, lost_finding=False))
        out.append(component)
    return out


def _component(package: object, where: str, issues: list[ParseIssue]) -> Component | None:
    if not isinstance(package, dict):
        issues.append(ParseIssue(where, "package is not an object; skipped", lost_finding=False))
        return None
    name = text(package.get("name"))
    if not name:
        issues.append(ParseIssue(where, "package has no name; skipped", lost_finding=False))
        return None
    refs = as_list(package.get("externalRefs"))
    purpose = text(package.get("primaryPackagePurpose"))
    licenses = [text(package.get("licenseConcluded")), text(package.get("licenseDeclared"))]
    return Component(
        name=name,
        version=text(package.get("versionInfo")),
        purl=_purl(refs, where, issues),
        type=purpose.lower().replace("_", "-"),
        ref=text(package.get("SPDXID")),
        cpe=_cpe(refs),
        licenses=unique(lic for lic in licenses if lic not in _NO_LICENSE),
    )


def _refs_of(refs: list[Any], category: str, types: Iterable[str]) -> list[tuple[int, str, str]]:
    wanted = set(types)
    out = []
    for i, raw_ref in enumerate(refs):
        ref = as_dict(raw_ref)
        ref_category = text(ref.get("referenceCategory")).upper().replace("_", "-")
        ref_type = text(ref.get("referenceType"))
        if ref_category == category and ref_type in wanted:
            out.append((i, ref_type, text(ref.get("referenceLocator"))))
    return out


def _purl(refs: list[Any], where: str, issues: list[ParseIssue]) -> str:
    for i, _type, locator in _refs_of(refs, "PACKAGE-MANAGER", ("purl",)):
        at = f"{where}/externalRefs/{i}/referenceLocator"
        purl = purl_or_issue(locator, at, issues, "ignored")
        if purl:
            return purl
    return ""


def _cpe(refs: list[Any]) -> str:
    found = dict((t, loc) for _i, t, loc in _refs_of(refs, "SECURITY", ("cpe23Type", "cpe22Type")))
    return found.get("cpe23Type") or found.get("cpe22Type") or ""


def _edges(doc: Rewindable, known: set[str]) -> dict[str, tuple[str, ...]]:
    edges: dict[str, list[str]] = {}
    wanted = ("relationships.item", f"{_WRAPPER}.relationships.item")
    arrays = ("relationships", f"{_WRAPPER}.relationships")
    items = walk(doc.rewind(), FORMAT, wanted, arrays)
    for _prefix, _where, rel in items:
        edge = _edge(as_dict(rel))
        if edge and edge[0] in known and edge[1] in known and edge[0] != edge[1]:
            edges.setdefault(edge[0], []).append(edge[1])
    return {src: unique(dsts) for src, dsts in edges.items()}


def _edge(rel: dict[str, Any]) -> tuple[str, str] | None:
    """(dependent, dependency) for a relationship that means "depends on", else None."""
    kind = text(rel.get("relationshipType"))
    source, target = text(rel.get("spdxElementId")), text(rel.get("relatedSpdxElement"))
    if kind in _FORWARD:
        return source, target
    if kind in _REVERSE or kind.endswith("_DEPENDENCY_OF"):
        return target, source
    return None


def _with_edges(component: Component, edges: dict[str, tuple[str, ...]]) -> Component:
    depends = edges.get(component.ref)
    return replace(component, depends_on=depends) if depends else component
