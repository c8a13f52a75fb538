"""Streaming, defused reading of CycloneDX XML 1.0–1.7 into the JSON layout `_cdx` maps.

Versions 1.0 and 1.1 have no metadata (so no tool: "cyclonedx"), no bom-ref in 1.0, and carry
a dependency graph and vulnerabilities only through extension namespaces, which are read too:
`http://cyclonedx.org/schema/ext/dependency-graph/1.0` (`<dependencies><dependency ref>` at
the BOM level) and `http://cyclonedx.org/schema/ext/vulnerability/1.0` (`<vulnerabilities>`
inside a component or at the BOM level; each `<vulnerability ref>` names the affected
component's bom-ref or purl, else the enclosing component is meant; `id`, `source@name`,
`ratings/rating/{score/base, severity, method, vector}`, `cwes/cwe`, `description`,
`recommendations/recommendation`, `advisories/advisory`).

Security: parsing goes through defusedxml's parser with DTDs, entity declarations and
external references all forbidden. Every billion-laughs or XXE payload needs a DOCTYPE, so it
is rejected at the declaration, before anything expands or is fetched; CycloneDX never uses a
DTD, so nothing legitimate is lost.

Memory: the expat target only builds the subtrees the caller watches (a component, a
dependency, a vulnerability, the metadata) and hands each one over as soon as it closes, so a
BOM of any size is held one top-level entry at a time, and elements nested deeper than
`max_depth()` are refused (TooDeep) as they open. Elements outside the document's own
CycloneDX namespace (extensions) are kept under their qualified name and so never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser
from defusedxml.ElementTree import ParseError as XmlSyntaxError

from ._cdx import XML_SPECS, check_spec_version
from ._sbom import quoted
from .base import ParseError, TooDeep, max_depth

_ROOT = re.compile(r"^(?P<namespace>http://cyclonedx\.org/schema/bom/(?P<version>[^}]+)\})bom$")
_CHUNK = 64 * 1024
Path = tuple[str, ...]
VULN_EXT = "{http://cyclonedx.org/schema/ext/vulnerability/1.0}"
GRAPH_EXT = "{http://cyclonedx.org/schema/ext/dependency-graph/1.0}"


@dataclass(slots=True)
class Node:
    """A captured element: local name (CycloneDX namespace) or "{ns}name" (anything else)."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.tag == name), None)

    def children_named(self, name: str) -> list[Node]:
        return [c for c in self.children if c.tag == name]

    def grandchildren(self, name: str, item: str) -> list[Node]:
        holder = self.child(name)
        return holder.children_named(item) if holder else []

    def text_of(self, name: str) -> str:
        node = self.child(name)
        return node.text if node else ""


class _Target:
    """expat handlers that build only watched subtrees (paths of local names below the root).

    They are bound straight onto the expat parser of defusedxml's DefusedXMLParser (which keeps
    its own DTD and entity handlers), skipping ElementTree's per-element wrappers (a third of
    the time on a large BOM). expat reports names as "namespace}local" and attributes as a flat
    [name, value, ...] list because of how XMLParser configures it.
    """

    def __init__(self, fmt: str, watch: frozenset[Path], expat: Any) -> None:
        self.fmt = fmt
        self.watch = watch
        self._watch_depths = frozenset(len(path) + 1 for path in watch)
        self.expat = expat
        self.limit = max_depth()
        self.namespace = ""
        self.version = ""
        self.root_attrib: dict[str, str] = {}
        self.ready: list[tuple[Path, Node]] = []
        self._path: list[str] = []
        self._capture: list[Node] = []
        self._capture_path: Path = ()
        self._text: list[list[str]] = []
        expat.StartElementHandler = self.start
        expat.EndElementHandler = self.end
        expat.CharacterDataHandler = self.data

    def start(self, tag: str, attributes: list[str]) -> None:
        path = self._path
        if not path:
            self._open_root(tag, attributes)
        elif len(path) >= self.limit:
            raise TooDeep(self.fmt, self.limit, pointer=f"line:{self.expat.CurrentLineNumber}")
        name = tag[len(self.namespace) :] if tag.startswith(self.namespace) else "{" + tag
        path.append(name)
        if not self._capture:
            # most elements are neither watched nor inside a watched subtree: decide cheaply
            if len(path) not in self._watch_depths or tuple(path[1:]) not in self.watch:
                return
            self._capture_path = tuple(path[1:])
        attrib = dict(zip(attributes[::2], attributes[1::2], strict=True))
        node = Node(name, attrib, self.expat.CurrentLineNumber)
        if self._capture:
            self._capture[-1].children.append(node)
        self._capture.append(node)
        self._text.append([])

    def data(self, data: str) -> None:
        if self._capture:
            self._text[-1].append(data)

    def end(self, _tag: str) -> None:
        self._path.pop()
        if not self._capture:
            return
        node = self._capture.pop()
        node.text = "".join(self._text.pop()).strip()
        if not self._capture:
            self.ready.append((self._capture_path, node))

    def drain(self) -> list[tuple[Path, Node]]:
        ready, self.ready = self.ready, []
        return ready

    def _open_root(self, tag: str, attributes: list[str]) -> None:
        line = self.expat.CurrentLineNumber
        match = _ROOT.match(tag)
        if not match:
            raise ParseError(
                self.fmt,
                f"root element is {quoted('{' + tag if '}' in tag else tag)}, expected <bom> in a "
                "CycloneDX namespace "
                "(http://cyclonedx.org/schema/bom/1.x)",
                pointer=f"line:{line}",
            )
        self.version = match.group("version")
        check_spec_version(self.fmt, self.version, f"line:{line}", XML_SPECS)
        self.namespace = match.group("namespace")
        self.root_attrib = dict(zip(attributes[::2], attributes[1::2], strict=True))


class _Finish:
    """The XMLParser target: nothing to build, since _Target's handlers replace its own."""

    def close(self) -> None:
        return None


class XmlBom:
    """One CycloneDX XML document on a seekable stream, readable several times."""

    def __init__(self, stream: BinaryIO, fmt: str) -> None:
        self.stream = stream
        self.start = stream.tell()
        self.fmt = fmt
        self.version = ""
        self.serial = ""

    def nodes(self, watch: frozenset[Path]) -> Iterator[tuple[Path, Node]]:
        """Completed watched subtrees, in document order."""
        self.stream.seek(self.start)
        parser = DefusedXMLParser(target=_Finish(), forbid_dtd=True)
        target = _Target(self.fmt, watch, parser.parser)
        try:
            while chunk := self.stream.read(_CHUNK):
                parser.feed(chunk)
                yield from target.drain()
            parser.close()
        except DTDForbidden:
            raise self._refused(target, "a DOCTYPE/DTD is not allowed in CycloneDX XML") from None
        except DefusedXmlException as exc:
            raise self._refused(target, f"{type(exc).__name__}") from None
        except LookupError:  # an XML declaration naming an encoding Python does not know
            raise ParseError(
                self.fmt, "unknown character encoding in the XML declaration", pointer="line:1"
            ) from None
        except XmlSyntaxError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else 0
            message = str(exc).split(":")[0]
            raise ParseError(
                self.fmt, f"malformed XML: {message}", pointer=f"line:{line}"
            ) from None
        yield from target.drain()
        self.version = target.version
        self.serial = target.root_attrib.get("serialNumber", "")

    def _refused(self, target: _Target, what: str) -> ParseError:
        return ParseError(
            self.fmt,
            f"unsafe XML refused: {what}; DTDs, entity declarations and external references "
            "enable entity-expansion (billion laughs) and external entity (XXE) attacks",
            pointer=f"line:{target.expat.CurrentLineNumber}",
        )


# --- element -> JSON layout --------------------------------------------------------------------


def _source(node: Node | None) -> dict[str, str]:
    return {"name": node.text_of("name"), "url": node.text_of("url")} if node else {}


def _licenses(node: Node) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    holder = node.child("licenses")
    for entry in holder.children if holder else []:
        if entry.tag == "license":
            out.append({"license": {"id": entry.text_of("id"), "name": entry.text_of("name")}})
        elif entry.tag == "expression":
            out.append({"expression": entry.text})
    return out


def _component_fields(node: Node) -> dict[str, Any]:
    fields = ("group", "name", "version", "scope", "purl", "cpe")
    out: dict[str, Any] = {name: node.text_of(name) for name in fields}
    out.update(
        _line=node.line,
        type=node.attrib.get("type", ""),
        licenses=_licenses(node),
    )
    out["bom-ref"] = node.attrib.get("bom-ref", "")
    owner = out["bom-ref"] or out["purl"]
    vulns = node.grandchildren(f"{VULN_EXT}vulnerabilities", f"{VULN_EXT}vulnerability")
    if vulns:
        out["_ext_vulnerabilities"] = [ext_vulnerability_dict(v, owner) for v in vulns]
    return out


def component_dict(root: Node) -> dict[str, Any]:
    """A <component> with its nested components (iteratively: nesting depth is untrusted)."""
    out = _component_fields(root)
    stack = [(root, out)]
    while stack:
        node, converted = stack.pop()
        children = node.grandchildren("components", "component")
        if children:
            converted["components"] = [_component_fields(c) for c in children]
            stack.extend(zip(children, converted["components"], strict=True))
    return out


def metadata_dict(node: Node) -> dict[str, Any]:
    """<metadata>: tools in either the legacy <tool> or the 1.5+ components/services form."""
    tools_node = node.child("tools")
    tools: list[dict[str, str]] = []
    if tools_node:
        for tool in tools_node.children_named("tool"):
            tools.append({"name": tool.text_of("name"), "version": tool.text_of("version")})
        for kind, item in (("components", "component"), ("services", "service")):
            for tool in tools_node.grandchildren(kind, item):
                tools.append({"name": tool.text_of("name"), "version": tool.text_of("version")})
    out: dict[str, Any] = {"tools": tools}
    subject = node.child("component")
    if subject:
        out["component"] = component_dict(subject)
    return out


def dependency_dict(node: Node) -> dict[str, Any]:
    """<dependency ref="a"><dependency ref="b"/></dependency> -> {ref, dependsOn}."""
    depends = [c.attrib.get("ref", "") for c in node.children if _local(c.tag) == "dependency"]
    return {"_line": node.line, "ref": node.attrib.get("ref", ""), "dependsOn": depends}


def _rating(node: Node) -> dict[str, Any]:
    fields = ("score", "severity", "method", "vector", "justification")
    out: dict[str, Any] = {name: node.text_of(name) for name in fields}
    out.update(_line=node.line, source=_source(node.child("source")))
    return out


def vulnerability_dict(node: Node) -> dict[str, Any]:
    """<vulnerability> (1.4+) in the JSON layout."""
    analysis = node.child("analysis")
    texts = ("id", "description", "detail", "recommendation", "workaround")
    out: dict[str, Any] = {name: node.text_of(name) for name in texts}
    out.update(
        _line=node.line,
        source=_source(node.child("source")),
        references=[
            {"id": r.text_of("id"), "source": _source(r.child("source"))}
            for r in node.grandchildren("references", "reference")
        ],
        ratings=[_rating(r) for r in node.grandchildren("ratings", "rating")],
        cwes=[c.text for c in node.grandchildren("cwes", "cwe")],
        advisories=[
            {"title": a.text_of("title"), "url": a.text_of("url")}
            for a in node.grandchildren("advisories", "advisory")
        ],
        affects=[
            {"_line": t.line, "ref": t.text_of("ref")}
            for t in node.grandchildren("affects", "target")
        ],
    )
    out["bom-ref"] = node.attrib.get("bom-ref", "")
    if analysis:
        out["analysis"] = {
            "state": analysis.text_of("state"),
            "justification": analysis.text_of("justification"),
            "response": [r.text for r in analysis.grandchildren("responses", "response")],
            "detail": analysis.text_of("detail"),
        }
    return out


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _ext_text(node: Node, name: str) -> str:
    return node.text_of(f"{VULN_EXT}{name}")


def _ext_rating(node: Node) -> dict[str, Any]:
    score = node.child(f"{VULN_EXT}score")
    return {
        "_line": node.line,
        "score": _ext_text(score, "base") if score else "",
        "severity": _ext_text(node, "severity"),
        "method": _ext_text(node, "method"),
        "vector": _ext_text(node, "vector"),
    }


def ext_vulnerability_dict(node: Node, owner: str = "") -> dict[str, Any]:
    """A vulnerability of the 1.0 vulnerability extension in the 1.4+ JSON layout; `owner` is
    the enclosing component's bom-ref or purl, the default affected component."""
    source = node.child(f"{VULN_EXT}source")
    ref = node.attrib.get("ref", "") or owner
    recommendations = node.grandchildren(f"{VULN_EXT}recommendations", f"{VULN_EXT}recommendation")
    return {
        "_line": node.line,
        "bom-ref": "",
        "id": _ext_text(node, "id"),
        "description": _ext_text(node, "description"),
        "recommendation": "\n".join(r.text for r in recommendations if r.text),
        "source": {
            "name": source.attrib.get("name", "") if source else "",
            "url": _ext_text(source, "url") if source else "",
        },
        "references": [],
        "ratings": [
            _ext_rating(r) for r in node.grandchildren(f"{VULN_EXT}ratings", f"{VULN_EXT}rating")
        ],
        "cwes": [c.text for c in node.grandchildren(f"{VULN_EXT}cwes", f"{VULN_EXT}cwe")],
        "advisories": [
            {"title": "", "url": a.text}
            for a in node.grandchildren(f"{VULN_EXT}advisories", f"{VULN_EXT}advisory")
        ],
        "affects": [{"_line": node.line, "ref": ref}] if ref else [],
    }
