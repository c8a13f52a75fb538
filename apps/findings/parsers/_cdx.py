"""CycloneDX mapping shared by the JSON and XML readers.

Both readers hand over JSON-shaped dicts (the XML reader converts elements to the JSON
layout, adding "_line" so issues can point at `line:N`), and this module turns them into
records. Mapping rules:

- Tool: the first of metadata.tools (1.2–1.4 array of {vendor,name,version}, 1.5+ object of
  {components[], services[]}) that is not a CycloneDX serialisation library, else the first
  tool; "cyclonedx" when the BOM names none. Lower-cased.
- Components: metadata.component (the BOM's subject) first, then components[] depth-first
  including nested components. name is "group/name" when a group is given (the purl
  namespace/name shape). purl is canonicalised with packageurl-python; an invalid purl keeps
  the component with purl "" and records a ParseIssue. depends_on comes from dependencies[].
  Duplicate bom-refs are kept, recorded as issues, and resolve to the first definition.
- Vulnerabilities: one finding of kind "sca" per (vulnerability, distinct affected
  component). affects[].ref resolves against bom-refs, BOM-Links (urn:cdx:serial/version#ref)
  of this BOM, or, failing that, a ref that is itself a purl; otherwise the pair is skipped
  with an issue. vuln_ids = (id, references[].id...). affects[].versions are not evaluated.
- Ratings: CVSSv2/CVSSv3/CVSSv31/CVSSv4 (or any vector starting "CVSS:") become Cvss records
  with the score recomputed from the vector; an invalid vector keeps the rating's score only
  and records an issue. Severity: highest stated rating severity, else the best CVSS score's
  band, else "info" (see _sbom). OWASP/SSVC/other scores are not CVSS and never banded.
- VEX: analysis.state / justification -> vex_state / vex_justification, unchanged; a
  not_affected or false_positive statement is still a finding (ingestion applies it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from packageurl import PackageURL

from apps.findings.vocabulary import cwe_number

from ._jsonstream import pointer
from ._sbom import (
    InvalidVector,
    as_dict,
    as_list,
    as_score,
    canonical_purl,
    cvss_version_of,
    parse_cvss,
    purl_or_issue,
    quoted,
    resolve_severity,
    severity_word,
    text,
    unique,
)
from .base import Component, Cvss, Issues, NormalizedFinding, ParseError, ParseIssue

SUPPORTED_SPECS = ("1.2", "1.3", "1.4", "1.5", "1.6", "1.7")
# XML has two older versions (JSON starts at 1.2): no metadata, dependencies and
# vulnerabilities only through extension namespaces (`_cdx_xml`)
XML_SPECS = ("1.0", "1.1", *SUPPORTED_SPECS)
FALLBACK_TOOL = "cyclonedx"
_LIBRARIES = frozenset(
    {
        "cyclonedx-python-lib",
        "cyclonedx-library",
        "cyclonedx-core-java",
        "cyclonedx-javascript-library",
        "cyclonedx-php-library",
        "cyclonedx-go",
        "cyclonedx-dotnet-library",
    }
)
_METHOD_VERSIONS = {"CVSSv2": "2.0", "CVSSv3": "3.0", "CVSSv31": "3.1", "CVSSv4": "4.0"}


def check_spec_version(
    fmt: str, version: object, where: str, supported_specs: tuple[str, ...] = SUPPORTED_SPECS
) -> None:
    """ParseError unless the BOM declares a spec version this parser reads."""
    if not isinstance(version, str) or not version:
        raise ParseError(fmt, "specVersion is missing", pointer=where)
    if version not in supported_specs:
        supported = f"{supported_specs[0]}–{supported_specs[-1]}"
        raise ParseError(
            fmt,
            f"CycloneDX specVersion {quoted(version)} is not supported ({supported})",
            pointer=where,
        )


def sub_pointer(base: str, *segments: object) -> str:
    """JSON pointers get segments appended; an XML "line:N" pointer stays on its element."""
    return base if base.startswith("line:") else base + pointer(*segments)


def item_pointer(base: str, item: object, *segments: object) -> str:
    """Pointer of a child object: its own XML line when it has one, else base + segments."""
    if isinstance(item, dict) and "_line" in item:
        return f"line:{item['_line']}"
    return sub_pointer(base, *segments)


def pick_tool(metadata: dict[str, Any]) -> tuple[str, str]:
    """(name, version) of the tool that produced the BOM, lower-cased name."""
    tools = metadata.get("tools")
    if isinstance(tools, dict):
        entries = as_list(tools.get("components")) + as_list(tools.get("services"))
    else:
        entries = as_list(tools)
    named = [
        (text(t.get("name")).lower(), text(t.get("version")))
        for t in entries
        if isinstance(t, dict) and text(t.get("name"))
    ]
    for name, version in named:
        if name not in _LIBRARIES:
            return name, version
    return named[0] if named else (FALLBACK_TOOL, "")


def licenses_of(raw: object) -> tuple[str, ...]:
    """SPDX ids, license names and expressions, in document order."""
    out = []
    for raw_entry in as_list(raw):
        entry = as_dict(raw_entry)
        lic = as_dict(entry.get("license"))
        out.append(text(lic.get("id")) or text(lic.get("name")) or text(entry.get("expression")))
    return unique(out)


def component_of(obj: object, where: str, issues: list[ParseIssue]) -> Component | None:
    """One component without its nested components and dependencies."""
    if not isinstance(obj, dict):
        issues.append(ParseIssue(where, "component is not an object; skipped", lost_finding=False))
        return None
    name = text(obj.get("name"))
    if not name:
        issues.append(ParseIssue(where, "component has no name; skipped", lost_finding=False))
        return None
    group = text(obj.get("group"))
    return Component(
        name=f"{group}/{name}" if group else name,
        version=text(obj.get("version")),
        purl=purl_or_issue(
            text(obj.get("purl")), sub_pointer(where, "purl"), issues, "component kept without one"
        ),
        type=text(obj.get("type")),
        ref=text(obj.get("bom-ref")),
        cpe=text(obj.get("cpe")),
        licenses=licenses_of(obj.get("licenses")),
        scope=text(obj.get("scope")),
    )


def _with_nested(obj: object, where: str) -> Iterator[tuple[object, str]]:
    """A component and its nested components, depth-first, without recursion."""
    stack = [(obj, where)]
    while stack:
        node, at = stack.pop()
        yield node, at
        children = as_list(node.get("components")) if isinstance(node, dict) else []
        stack.extend(
            (child, item_pointer(at, child, "components", i))
            for i, child in reversed(list(enumerate(children)))
        )


@dataclass
class Inventory:
    """Everything a BOM says about components, resolved once before vulnerabilities are read."""

    tool_name: str = FALLBACK_TOOL
    tool_version: str = ""
    serial: str = ""
    subject: Component | None = None  # metadata.component: what the BOM describes
    components: list[Component] = field(default_factory=list)
    by_ref: dict[str, Component] = field(default_factory=dict)
    issues: list[ParseIssue] = field(default_factory=Issues)


class InventoryBuilder:
    """Collects metadata, components and dependencies in whatever order the BOM has them."""

    def __init__(self) -> None:
        self.inventory = Inventory()
        self._subject: list[Component] = []
        self._components: list[Component] = []
        self._first_ref: dict[str, str] = {}
        self._depends: dict[str, tuple[str, ...]] = {}

    def add_metadata(self, metadata: object, where: str) -> None:
        metadata = as_dict(metadata)
        self.inventory.tool_name, self.inventory.tool_version = pick_tool(metadata)
        subject = metadata.get("component")
        if subject is not None:
            self._subject = self._flatten(subject, item_pointer(where, subject, "component"))

    def add_component(self, obj: object, where: str) -> None:
        self._components.extend(self._flatten(obj, where))

    def add_dependency(self, obj: object, where: str) -> None:
        ref = text(as_dict(obj).get("ref"))
        if not ref:
            self.inventory.issues.append(
                ParseIssue(where, "dependency has no ref; skipped", lost_finding=False)
            )
            return
        depends = [text(r) for r in as_list(as_dict(obj).get("dependsOn"))]
        self._depends[ref] = unique([*self._depends.get(ref, ()), *depends])

    def finish(self, serial: str = "") -> Inventory:
        inv = self.inventory
        inv.serial = serial
        inv.subject = self._subject[0] if self._subject else None
        for draft in [*self._subject, *self._components]:
            depends = self._depends.get(draft.ref)
            component = replace(draft, depends_on=depends) if depends else draft
            inv.components.append(component)
            if component.ref and component.ref not in inv.by_ref:
                inv.by_ref[component.ref] = component
        return inv

    def _flatten(self, obj: object, where: str) -> list[Component]:
        out = []
        for node, at in _with_nested(obj, where):
            component = component_of(node, at, self.inventory.issues)
            if component is None:
                continue
            self._note_ref(component.ref, at)
            out.append(component)
        return out

    def _note_ref(self, ref: str, where: str) -> None:
        if not ref:
            return
        first = self._first_ref.setdefault(ref, where)
        if first != where:
            message = (
                f"duplicate bom-ref {quoted(ref)} (first at {first}); refs resolve to the first"
            )
            self.inventory.issues.append(ParseIssue(where, message, lost_finding=False))


class VulnerabilityMapper:
    """Turns one CycloneDX vulnerability into findings, one per affected component."""

    def __init__(self, inventory: Inventory) -> None:
        self.inv = inventory
        self.issues = inventory.issues

    def findings(self, vuln: object, where: str) -> Iterator[NormalizedFinding]:
        if not isinstance(vuln, dict):
            self.issues.append(ParseIssue(where, "vulnerability is not an object; skipped"))
            return
        vuln_id = text(vuln.get("id"))
        if not vuln_id:
            self.issues.append(ParseIssue(where, "vulnerability has no id; skipped"))
            return
        shared = self._shared(vuln, vuln_id, where)
        targets = self._targets(vuln, vuln_id, where)
        if not targets:
            self.issues.append(ParseIssue(where, f"{vuln_id} affects no component; skipped"))
        for component, at in targets:
            title = f"{vuln_id} in {component.name} {component.version}".strip()
            yield NormalizedFinding(**shared, title=title, component=component, pointer=at)

    def _shared(self, vuln: dict[str, Any], vuln_id: str, where: str) -> dict[str, Any]:
        """The fields every finding of this vulnerability has in common."""
        stated, scores = self._ratings(vuln, where)
        analysis = as_dict(vuln.get("analysis"))
        aliases = [text(as_dict(r).get("id")) for r in as_list(vuln.get("references"))]
        return dict(
            kind="sca",
            tool=self.inv.tool_name,
            rule_id=vuln_id,
            severity=resolve_severity(stated, scores),
            message=_message(vuln),
            cwes=self._cwes(vuln, where),
            vuln_ids=unique([vuln_id, *aliases]),
            cvss=tuple(scores),
            vex_state=text(analysis.get("state")),
            vex_justification=text(analysis.get("justification")),
            references=_references(vuln),
            properties=_properties(vuln, analysis),
        )

    def _ratings(self, vuln: dict[str, Any], where: str) -> tuple[list[str | None], list[Cvss]]:
        stated: list[str | None] = []
        scores: list[Cvss] = []
        for i, rating in enumerate(as_list(vuln.get("ratings"))):
            at = item_pointer(where, rating, "ratings", i)
            if not isinstance(rating, dict):
                self.issues.append(
                    ParseIssue(at, "rating is not an object; ignored", lost_finding=False)
                )
                continue
            stated.append(severity_word(rating.get("severity")))
            score = self._cvss(rating, at)
            if score is not None:
                scores.append(score)
        return stated, scores

    def _cvss(self, rating: dict[str, Any], where: str) -> Cvss | None:
        hint = _METHOD_VERSIONS.get(text(rating.get("method")), "")
        vector = text(rating.get("vector"))
        if not hint and not vector.startswith("CVSS:"):
            return None
        source = text(as_dict(rating.get("source")).get("name"))
        score = as_score(rating.get("score"))
        if vector:
            try:
                return parse_cvss(vector, hint=hint, source=source)
            except InvalidVector as exc:
                message = f"{exc}; rating kept with its score only"
                self.issues.append(
                    ParseIssue(sub_pointer(where, "vector"), message, lost_finding=False)
                )
        version = hint or cvss_version_of(vector)
        if score is None or not version:
            return None
        return Cvss(version, "", score, source)

    def _cwes(self, vuln: dict[str, Any], where: str) -> tuple[int, ...]:
        out = []
        for i, raw in enumerate(as_list(vuln.get("cwes"))):
            number = cwe_number(raw)
            if number is None:
                message = f"CWE {quoted(raw)} is not a CWE number; ignored"
                self.issues.append(
                    ParseIssue(sub_pointer(where, "cwes", i), message, lost_finding=False)
                )
            else:
                out.append(number)
        return tuple(dict.fromkeys(out))

    def _targets(
        self, vuln: dict[str, Any], vuln_id: str, where: str
    ) -> list[tuple[Component, str]]:
        seen: dict[tuple[str, str, str], tuple[Component, str]] = {}
        for i, target in enumerate(as_list(vuln.get("affects"))):
            at = item_pointer(where, target, "affects", i)
            ref = text(as_dict(target).get("ref"))
            component = self._resolve(ref)
            if component is None:
                message = (
                    f"{quoted(vuln_id)}: affects ref {quoted(ref)} matches no component; skipped"
                )
                self.issues.append(ParseIssue(at, message))
                continue
            seen.setdefault((component.ref, component.purl, component.name), (component, at))
        return list(seen.values())

    def _resolve(self, ref: str) -> Component | None:
        if not ref:
            return None
        if ref in self.inv.by_ref:
            return self.inv.by_ref[ref]
        if ref.startswith("urn:cdx:") and "#" in ref:
            serial, _, fragment = ref[len("urn:cdx:") :].partition("#")
            ours = self.inv.serial.removeprefix("urn:uuid:")
            if not ours or serial.split("/", 1)[0] == ours:
                return self.inv.by_ref.get(unquote(fragment))
            return None
        if ref.startswith("pkg:"):
            return _component_from_purl(ref)
        return None


def _component_from_purl(ref: str) -> Component | None:
    """A component for an affects ref that is a purl of a component this BOM does not list."""
    try:
        purl = canonical_purl(ref)
    except ValueError:
        return None
    parsed = PackageURL.from_string(purl)
    name = f"{parsed.namespace}/{parsed.name}" if parsed.namespace else parsed.name
    return Component(name=name, version=parsed.version or "", purl=purl, ref=ref, type="library")


def _message(vuln: dict[str, Any]) -> str:
    parts = [text(vuln.get("description")), text(vuln.get("detail"))]
    return "\n\n".join(p for p in parts if p)


def _references(vuln: dict[str, Any]) -> tuple[str, ...]:
    urls = [text(as_dict(a).get("url")) for a in as_list(vuln.get("advisories"))]
    urls.append(text(as_dict(vuln.get("source")).get("url")))
    for ref in as_list(vuln.get("references")):
        urls.append(text(as_dict(as_dict(ref).get("source")).get("url")))
    return unique(urls)


def _properties(vuln: dict[str, Any], analysis: dict[str, Any]) -> dict[str, str]:
    responses = [text(r) for r in as_list(analysis.get("response"))]
    candidates = {
        "source": text(as_dict(vuln.get("source")).get("name")),
        "vulnerability_ref": text(vuln.get("bom-ref")),
        "recommendation": text(vuln.get("recommendation")),
        "workaround": text(vuln.get("workaround")),
        "vex_response": ",".join(r for r in responses if r),
        "vex_detail": text(analysis.get("detail")),
    }
    return {key: value for key, value in candidates.items() if value}
