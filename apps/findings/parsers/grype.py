"""grype native JSON parser (`grype <target> -o json`).

Mapping rules (tool = descriptor.name lower-cased, "grype" by default; version =
descriptor.version unless it is grype's "[not provided]" placeholder):
- matches[] -> one finding each. kind "container" when source.type is "image" and the
  artifact is an OS package (apk, deb, rpm, alpm, portage), else "sca"; resource = the image
  (source.target.userInput) for image scans.
- rule_id = vulnerability.id; vuln_ids = (vulnerability.id, relatedVulnerabilities[].id...),
  so a GHSA match carries its CVE alias.
- component from artifact: name, version, purl (canonicalised), type "library",
  ref = artifact.id, cpe = the first of cpes, licenses; path = the first location's path,
  made relative to the scanned root or image.
- CVSS: vulnerability.cvss[] then each related vulnerability's cvss[], re-scored from the
  vector (an invalid vector keeps metrics.baseScore and records a ParseIssue).
- Severity: vulnerability.severity: Critical/High/Medium/Low map directly; Negligible -> info
  (Debian/Ubuntu "negligible": no practical security impact); Unknown or missing -> the best
  CVSS score's band, else "info". The original word is kept in properties["tool_severity"].
- fixed_versions = vulnerability.fix.versions; fix.state in properties.
- CWEs: vulnerability.cwes when present, else the CWEs of knownExploited[] entries.
- ignoredMatches[] (grype ignore rules) are findings with suppressed=True and
  suppression "grype-ignore-rule"; a VEX-based rule sets vex_state / vex_justification.

Older layouts (grype 0.1-0.12), read by the same mapping: before 0.5 the top level is
`{matches, image?|directory?}` (no source, no descriptor); before 0.13 `matchDetails` is one
object, not a list, and the vulnerability is `{id, severity, links, description, cvssV2,
cvssV3, fixedInVersion}` (links -> references, fixedInVersion -> fixed_versions, cvssV2/V3
-> CVSS); `relatedVulnerabilities` first appears in 0.13. Artifact locations that are plain
strings (early syft) are paths.

Streaming: pass one reads source, distro and descriptor (written after the matches); pass
two, while `findings` is iterated, streams matches and ignoredMatches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from apps.findings.vocabulary import cwe_number

from ._jsonstream import Rewindable, iter_array, walk
from ._sbom import (
    InvalidVector,
    as_dict,
    as_list,
    as_score,
    cvss_version_of,
    parse_cvss,
    purl_or_issue,
    relative_path,
    resolve_severity,
    severity_word,
    text,
    unique,
)
from .base import (
    Component,
    Cvss,
    Issues,
    NormalizedFinding,
    ParseError,
    ParseIssue,
    Parser,
    ParseResult,
    ReportTarget,
)

FORMAT = "grype"
TOOL = "grype"
_OS_TYPES = frozenset({"apk", "deb", "rpm", "alpm", "portage"})
_MATCHES = re.compile(r'(?<!\\)"matches"\s*:\s*\[')
_GRYPE_DESCRIPTOR = re.compile(r'(?<!\\)"descriptor"\s*:\s*\{\s*"name"\s*:\s*"grype"')
_OLD_MATCH_KEYS = (
    re.compile(r'(?<!\\)"vulnerability"\s*:\s*\{'),
    re.compile(r'(?<!\\)"artifact"\s*:\s*\{'),
    re.compile(r'(?<!\\)"(?:matchDetails|foundBy)"\s*:'),
)
_OLD_CVSS = (("cvssV3", "3.0"), ("cvssV2", "2.0"))
_MATCH_KEYS = (
    re.compile(r'(?<!\\)"matchDetails"\s*:'),
    re.compile(r'(?<!\\)"relatedVulnerabilities"\s*:'),
    re.compile(r'(?<!\\)"artifact"\s*:'),
)


class GrypeParser(Parser):
    """grype's own JSON report."""

    format = FORMAT
    label = "Grype JSON"
    expects = "`matches` (with `descriptor` grype or match `artifact`/`vulnerability`)"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        text_head = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
        if not text_head.startswith("{") or not _MATCHES.search(text_head):
            return False
        # descriptor is written last, so a long report's head only shows grype's match shape
        return (
            bool(_GRYPE_DESCRIPTOR.search(text_head))
            or all(p.search(text_head) for p in _MATCH_KEYS)
            or all(p.search(text_head) for p in _OLD_MATCH_KEYS)
        )

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = Rewindable(stream)
        header, lists = _read_header(doc)
        descriptor = as_dict(header.get("descriptor"))
        version = text(descriptor.get("version"))
        issues: list[ParseIssue] = Issues()
        return ParseResult(
            format=FORMAT,
            tool_name=text(descriptor.get("name")).lower() or TOOL,
            tool_version="" if version.startswith("[") else version,
            findings=_findings(doc, _Mapper(header, issues), lists),
            skipped=issues,
            target=_target(as_dict(header.get("source"))),
        )


def _target(source: dict[str, Any]) -> ReportTarget:
    """source.target: an object for images (userInput, else name), a path for the rest."""
    target = source.get("target")
    kind = "image" if source.get("type") == "image" else "path"
    if isinstance(target, dict):
        name = (text(target.get(k)) for k in ("userInput", "path", "name"))
        return ReportTarget(kind, next((n for n in name if n), ""))
    return ReportTarget(kind, text(target))


def _read_header(doc: Rewindable) -> tuple[dict[str, Any], set[str]]:
    header: dict[str, Any] = {}
    seen: set[str] = set()
    arrays = ("matches", "ignoredMatches")
    for prefix, _where, value in walk(
        doc.rewind(), FORMAT, ("source", "descriptor", "image", "directory"), arrays, seen=seen
    ):
        header[prefix] = value
    if "matches" not in seen:
        raise ParseError(FORMAT, "matches is missing: not a grype JSON report")
    return header, seen


def _findings(doc: Rewindable, mapper: _Mapper, lists: set[str]) -> Iterator[NormalizedFinding]:
    for name in ("matches", "ignoredMatches"):
        if name not in lists:
            continue
        for where, match in iter_array(doc.rewind(), FORMAT, name):
            finding = mapper.finding(match, where, ignored=name == "ignoredMatches")
            if finding is not None:
                yield finding


class _Mapper:
    """Turns grype matches into findings, knowing the scan's source (directory or image)."""

    def __init__(self, header: dict[str, Any], issues: list[ParseIssue]) -> None:
        source = as_dict(header.get("source"))
        self.issues = issues
        self.tool = text(as_dict(header.get("descriptor")).get("name")).lower() or TOOL
        old_image = as_dict(header.get("image"))  # grype < 0.5
        self.image = text(source.get("type")) == "image" or bool(old_image)
        target = as_dict(source.get("target")) or old_image
        tags = [text(tag) for tag in as_list(target.get("tags"))]
        user_input = text(target.get("userInput")) or next((t for t in tags if t), "")
        self.resource = user_input if self.image else ""

    def finding(self, match: object, where: str, *, ignored: bool) -> NormalizedFinding | None:
        match = as_dict(match)
        vuln = match.get("vulnerability")
        artifact = match.get("artifact")
        if not isinstance(vuln, dict) or not isinstance(artifact, dict):
            self.issues.append(
                ParseIssue(where, "match lacks a vulnerability or artifact; skipped")
            )
            return None
        vuln_id = text(vuln.get("id"))
        if not vuln_id:
            self.issues.append(ParseIssue(where, "vulnerability has no id; skipped"))
            return None
        related = [as_dict(r) for r in as_list(match.get("relatedVulnerabilities"))]
        component = self._component(artifact, where)
        scores = self._cvss(vuln, related, where)
        stated = text(vuln.get("severity"))
        fix = as_dict(vuln.get("fix"))
        old_fix = text(vuln.get("fixedInVersion"))  # grype < 0.13
        raw_details = match.get("matchDetails")
        raw_details = [raw_details] if isinstance(raw_details, dict) else as_list(raw_details)
        details = [as_dict(d) for d in raw_details]
        rules = [as_dict(r) for r in as_list(match.get("appliedIgnoreRules"))]
        vex_rule = next((r for r in rules if text(r.get("vex-status"))), {})
        os_package = text(artifact.get("type")) in _OS_TYPES
        locations = [
            {"path": loc} if isinstance(loc, str) else as_dict(loc)
            for loc in as_list(artifact.get("locations"))
        ]
        return NormalizedFinding(
            kind="container" if self.image and os_package else "sca",
            tool=self.tool,
            rule_id=vuln_id,
            title=f"{vuln_id} in {component.name} {component.version}".strip(),
            severity=resolve_severity([severity_word(stated)], scores),
            message=text(vuln.get("description"))
            or next(
                (text(r.get("description")) for r in related if text(r.get("description"))), ""
            ),
            pointer=where,
            cwes=_cwes(vuln),
            vuln_ids=unique([vuln_id, *(text(r.get("id")) for r in related)]),
            component=component,
            path=relative_path(locations[0].get("path")) if locations else "",
            resource=self.resource,
            cvss=tuple(scores),
            fixed_versions=unique([*(text(v) for v in as_list(fix.get("versions"))), old_fix]),
            suppressed=ignored,
            suppression="grype-ignore-rule" if ignored else "",
            vex_state=text(vex_rule.get("vex-status")),
            vex_justification=text(vex_rule.get("vex-justification")),
            references=_references(vuln, related),
            properties=_props(
                tool_severity=stated,
                fix_state=text(fix.get("state")),
                namespace=text(vuln.get("namespace")),
                matcher=text(details[0].get("matcher")) if details else "",
                match_type=text(details[0].get("type")) if details else "",
                artifact_type=text(artifact.get("type")),
                language=text(artifact.get("language")),
                ignore_reason="; ".join(
                    text(r.get("reason")) for r in rules if text(r.get("reason"))
                ),
            ),
        )

    def _component(self, artifact: dict[str, Any], where: str) -> Component:
        at = f"{where}/artifact/purl"
        purl = purl_or_issue(text(artifact.get("purl")), at, self.issues, "kept without one")
        cpes = [text(c) for c in as_list(artifact.get("cpes"))]
        return Component(
            name=text(artifact.get("name")),
            version=text(artifact.get("version")),
            purl=purl,
            type="library",
            ref=text(artifact.get("id")),
            cpe=next((c for c in cpes if c), ""),
            licenses=unique(_license(x) for x in as_list(artifact.get("licenses"))),
        )

    def _cvss(self, vuln: dict[str, Any], related: list[dict[str, Any]], where: str) -> list[Cvss]:
        out: list[Cvss] = []
        seen: set[tuple[str, str]] = set()
        owners = [("/vulnerability", vuln)]
        owners += [(f"/relatedVulnerabilities/{i}", r) for i, r in enumerate(related)]
        for owner_at, owner in owners:
            entries = [(f"cvss/{j}", e) for j, e in enumerate(as_list(owner.get("cvss")))]
            entries += [(k, _old_cvss(owner.get(k), v)) for k, v in _OLD_CVSS if owner.get(k)]
            for j, entry in entries:
                score = self._one_cvss(as_dict(entry), f"{where}{owner_at}/{j}")
                if score is not None and (score.vector, score.source) not in seen:
                    seen.add((score.vector, score.source))
                    out.append(score)
        return out

    def _one_cvss(self, entry: dict[str, Any], at: str) -> Cvss | None:
        vector = text(entry.get("vector"))
        version = text(entry.get("version"))
        version = "2.0" if version == "2" else version
        source = text(entry.get("source"))
        score = as_score(as_dict(entry.get("metrics")).get("baseScore"))
        if vector:
            try:
                return parse_cvss(vector, hint=version, source=source)
            except InvalidVector as exc:
                self.issues.append(
                    ParseIssue(
                        f"{at}/vector", f"{exc}; kept with its score only", lost_finding=False
                    )
                )
        version = version or cvss_version_of(vector)
        return Cvss(version, "", score, source) if version and score is not None else None


def _old_cvss(raw: object, version: str) -> dict[str, Any]:
    """grype < 0.13's cvssV2/cvssV3 object in the later cvss[] entry layout."""
    entry = as_dict(raw)
    metrics = {"baseScore": entry.get("baseScore", as_dict(entry.get("metrics")).get("baseScore"))}
    return {"version": version, "vector": entry.get("vector"), "metrics": metrics}


def _license(raw: object) -> str:
    if isinstance(raw, dict):
        return text(raw.get("value")) or text(raw.get("spdxExpression"))
    return text(raw)


def _cwes(vuln: dict[str, Any]) -> tuple[int, ...]:
    raw = as_list(vuln.get("cwes"))
    if not raw:
        raw = [
            c
            for ke in as_list(vuln.get("knownExploited"))
            for c in as_list(as_dict(ke).get("cwes"))
        ]
    return tuple(dict.fromkeys(n for n in map(cwe_number, raw) if n))


def _references(vuln: dict[str, Any], related: list[dict[str, Any]]) -> tuple[str, ...]:
    urls = [text(vuln.get("dataSource")), *map(text, as_list(vuln.get("urls")))]
    urls += map(text, as_list(vuln.get("links")))  # grype < 0.13
    urls += [text(as_dict(a).get("link")) for a in as_list(vuln.get("advisories"))]
    for rel in related:
        urls += [text(rel.get("dataSource")), *map(text, as_list(rel.get("urls")))]
    return unique(urls)


def _props(**values: str) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}
