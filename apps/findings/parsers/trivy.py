"""trivy native JSON parser (`trivy image|fs|repo --format json`, SchemaVersion 2), and its
legacy (bare array, <= 0.19) and Kubernetes (`trivy k8s`) layouts (`_trivy_layouts`).

Mapping rules (tool "trivy"; version from "Trivy": {"Version": ...} when the report has it,
which older trivy releases do not write):
- Results[].Vulnerabilities[] -> kind "container" for Class os-pkgs of a container_image
  artifact, else "sca". rule_id = VulnerabilityID; vuln_ids = (VulnerabilityID, VendorIDs...);
  component from PkgName/InstalledVersion/PkgIdentifier.PURL (canonicalised; ref = PkgID);
  CVSS from every CVSS source (V40/V3/V2 vectors, re-scored; the SeveritySource first);
  fixed_versions from FixedVersion (comma-separated); path = PkgPath, else the Target of a
  lang-pkgs result (the lock file); resource = ArtifactName for container images.
- Results[].Misconfigurations[] -> kind "iac" for Status FAIL; EXCEPTION (a trivy policy
  exception) is kept as suppressed; PASS is not a finding. rule_id = AVDID (stable across
  trivy's ID renames), else ID, with "AVD-" restored on 0.69+'s "DS-0002" style ids (the
  AVDID of the same check in earlier releases); path = Target; resource = CauseMetadata.Resource;
  lines from CauseMetadata; snippet = the cause lines of CauseMetadata.Code.
- Results[].Secrets[] -> kind "secret": rule_id = RuleID, lines, path = Target;
  secret_hash = sha256 of Match. Match and Code are never copied anywhere (trivy masks the
  secret inside Match with asterisks, so the hash identifies the masked line, which together
  with path and line is what trivy reports).
- Results[].Packages[] (--list-all-pkgs) -> components (ref = ID, depends_on = DependsOn).
- Licenses[] are licence-compliance results, not security findings: counted in one ParseIssue
  per result, not imported.
- Severity: CRITICAL/HIGH/MEDIUM/LOW map directly; UNKNOWN falls back to the best CVSS score,
  then "info" (see _sbom).

Streaming: pass one reads the report header and Packages; pass two, while `findings` is
iterated, streams each result's lists. A result's Target and Class precede its lists in
trivy's output; if a hand-edited file puts them later, that result's items are buffered until
its header is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from apps.findings.vocabulary import cwe_number

from ._common import json_head
from ._jsonstream import Rewindable, index_in, walk
from ._sbom import (
    InvalidVector,
    as_dict,
    as_list,
    as_score,
    parse_cvss,
    positive_int,
    purl_or_issue,
    quoted,
    relative_path,
    resolve_severity,
    severity_word,
    sha256_hex,
    text,
    unique,
)
from ._trivy_layouts import K8S_LISTS, k8s_findings, legacy_artifact, legacy_findings
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

FORMAT = "trivy"
TOOL = "trivy"
_SCHEMA = re.compile(r'(?<!\\)"SchemaVersion"\s*:\s*\d')
_TRIVY_KEYS = re.compile(r'(?<!\\)"(?:Results|ArtifactName|ArtifactType)"\s*:')
_CLUSTER = re.compile(rb'"ClusterName"\s*:')
_K8S_KEYS = re.compile(rb'"(?:Resources|Vulnerabilities|Misconfigurations|Findings)"\s*:')
_LEGACY = re.compile(rb'^\[\s*\{\s*"Target"\s*:')
_LEGACY_KEYS = re.compile(rb'"(?:Vulnerabilities|Misconfigurations|Packages)"\s*:')
_LISTS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Licenses")
_NEW_CHECK_ID = re.compile(r"^[A-Z]+-\d{4}$")
_HEADER = ("Target", "Class", "Type")
_CVSS_KEYS = (
    ("V40Vector", "V40Score", "4.0"),
    ("V3Vector", "V3Score", "3.1"),
    ("V2Vector", "V2Score", "2.0"),
)


class TrivyParser(Parser):
    """trivy's own JSON report (not its SARIF or CycloneDX output)."""

    format = FORMAT
    label = "Trivy JSON (SchemaVersion 2)"
    shape = "object-or-array"
    expects = "`SchemaVersion` with `Results`, `ClusterName`, or a list of `Target`s"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """SchemaVersion with trivy's report keys; a ClusterName object (k8s); or an array
        whose first element starts with "Target" (legacy)."""
        start = json_head(head)
        if _LEGACY.match(start):
            return bool(_LEGACY_KEYS.search(head))
        if start.startswith(b"{") and _CLUSTER.search(head) and _K8S_KEYS.search(head):
            return True
        text_head = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")
        return (
            text_head.startswith("{")
            and bool(_SCHEMA.search(text_head))
            and bool(_TRIVY_KEYS.search(text_head))
        )

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = Rewindable(stream)
        if json_head(doc.rewind().read(4096)).startswith(b"["):
            return _legacy(doc)
        report, components, issues = _read_header(doc)
        if report.get("ClusterName") is not None or report["_lists"] & set(K8S_LISTS):
            mapper = _Mapper(report, issues)
            findings = k8s_findings(doc, FORMAT, report["_lists"], mapper, _Result)
        else:
            findings = _findings(doc, report, issues)
        return ParseResult(
            format=FORMAT,
            tool_name=TOOL,
            tool_version=text(as_dict(report.get("Trivy")).get("Version")),
            findings=findings,
            components=iter(components),
            skipped=issues,
            target=ReportTarget(
                "image" if report.get("ArtifactType") == "container_image" else "path",
                text(report.get("ArtifactName")),
            ),
        )


def _legacy(doc: Rewindable) -> ParseResult:
    """A pre-schema-2 report: a bare array of results (see `_trivy_layouts`)."""
    issues: list[ParseIssue] = Issues()
    artifact = legacy_artifact(doc, FORMAT)  # also validates the whole document
    report = {"ArtifactName": artifact, "ArtifactType": "container_image" if artifact else ""}
    mapper = _Mapper(report, issues)
    return ParseResult(
        format=FORMAT,
        tool_name=TOOL,
        findings=legacy_findings(doc, FORMAT, mapper, _Result),
        skipped=issues,
    )


def _read_header(doc: Rewindable) -> tuple[dict[str, Any], list[Component], list[ParseIssue]]:
    report: dict[str, Any] = {}
    components: list[Component] = []
    issues: list[ParseIssue] = Issues()
    items = ("SchemaVersion", "ArtifactName", "ArtifactType", "Trivy", "Results.item.Packages.item")
    items += ("ClusterName",)
    arrays = ["Results", "Results.item.Packages", *(f"Results.item.{key}" for key in _LISTS)]
    arrays += [key for key in K8S_LISTS if key not in arrays]
    seen: set[str] = set()
    for prefix, where, value in walk(doc.rewind(), FORMAT, items, arrays, seen=seen):
        if prefix == "Results.item.Packages.item":
            component = _package(value, where, issues)
            if component is not None:
                components.append(component)
        else:
            report[prefix] = value
    report["_lists"] = seen
    if report.get("ClusterName") is not None or seen & set(K8S_LISTS):
        return report, components, issues  # k8s reports: SchemaVersion absent before 0.4x
    version = report.get("SchemaVersion")
    if version is None:
        raise ParseError(FORMAT, "SchemaVersion is missing: not a trivy JSON report")
    if version != 2:
        message = f"SchemaVersion {quoted(version)} is not supported (2)"
        raise ParseError(FORMAT, message, pointer="/SchemaVersion")
    return report, components, issues


def _package(obj: object, where: str, issues: list[ParseIssue]) -> Component | None:
    package = as_dict(obj)
    name = text(package.get("Name"))
    if not name:
        issues.append(ParseIssue(where, "package has no Name; skipped", lost_finding=False))
        return None
    purl = text(as_dict(package.get("Identifier")).get("PURL"))
    return Component(
        name=name,
        version=text(package.get("Version")),
        purl=purl_or_issue(purl, f"{where}/Identifier/PURL", issues, "kept without one"),
        type="library",
        ref=text(package.get("ID")),
        licenses=unique(text(x) for x in as_list(package.get("Licenses"))),
        depends_on=unique(text(x) for x in as_list(package.get("DependsOn"))),
    )


@dataclass
class _Result:
    """What is known of one Results[] entry while its lists stream past."""

    index: int
    header: dict[str, str] = field(default_factory=dict)
    pending: list[tuple[str, str, Any]] = field(default_factory=list)
    licenses: int = 0

    @property
    def ready(self) -> bool:
        return "Class" in self.header


def _findings(
    doc: Rewindable, report: dict[str, Any], issues: list[ParseIssue]
) -> Iterator[NormalizedFinding]:
    items = [f"Results.item.{key}" for key in _HEADER]
    items += [f"Results.item.{key}.item" for key in _LISTS]
    arrays = ["Results", *(f"Results.item.{key}" for key in _LISTS)]
    mapper = _Mapper(report, issues)
    current: _Result | None = None
    for prefix, where, value in walk(doc.rewind(), FORMAT, items, arrays):
        index = index_in(where, 1)
        if current is None or current.index != index:
            if current is not None:
                yield from mapper.flush(current)
            current = _Result(index)
        key = prefix.split(".")[2]
        if key in _HEADER:
            current.header[key] = text(value)
            if current.ready:
                yield from mapper.flush_pending(current)
        elif current.ready:
            yield from mapper.item(current, key, where, value)
        else:
            current.pending.append((key, where, value))
    if current is not None:
        yield from mapper.flush(current)


class _Mapper:
    """Turns the entries of trivy results into findings, knowing the scanned artifact."""

    def __init__(self, report: dict[str, Any], issues: list[ParseIssue]) -> None:
        self.issues = issues
        self.artifact = text(report.get("ArtifactName"))
        self.image = text(report.get("ArtifactType")) == "container_image"

    def flush_pending(self, result: _Result) -> Iterator[NormalizedFinding]:
        pending, result.pending = result.pending, []
        for key, where, value in pending:
            yield from self.item(result, key, where, value)

    def flush(self, result: _Result) -> Iterator[NormalizedFinding]:
        yield from self.flush_pending(result)
        if result.licenses:
            where = f"/Results/{result.index}/Licenses"
            message = f"{result.licenses} licence findings not imported (not a security finding)"
            self.issues.append(ParseIssue(where, message, lost_finding=False))

    def item(
        self, result: _Result, key: str, where: str, value: Any
    ) -> Iterator[NormalizedFinding]:
        if not isinstance(value, dict):
            self.issues.append(ParseIssue(where, f"{key} entry is not an object; skipped"))
            return
        if key == "Vulnerabilities":
            finding = self._vulnerability(result.header, where, value)
        elif key == "Misconfigurations":
            finding = self._misconfiguration(result.header, where, value)
        elif key == "Secrets":
            finding = self._secret(result.header, where, value)
        else:
            result.licenses += 1
            finding = None
        if finding is not None:
            yield finding

    def _vulnerability(
        self, header: dict[str, str], where: str, vuln: dict[str, Any]
    ) -> NormalizedFinding | None:
        vuln_id = text(vuln.get("VulnerabilityID"))
        if not vuln_id:
            self.issues.append(ParseIssue(where, "vulnerability has no VulnerabilityID; skipped"))
            return None
        os_pkgs = header.get("Class") == "os-pkgs"
        component = self._component(vuln, where)
        scores = self._cvss(vuln, where)
        stated = text(vuln.get("Severity"))
        path = text(vuln.get("PkgPath")) or ("" if os_pkgs else header.get("Target", ""))
        return NormalizedFinding(
            kind="container" if self.image and os_pkgs else "sca",
            tool=TOOL,
            rule_id=vuln_id,
            title=text(vuln.get("Title")) or f"{vuln_id} in {component.name} {component.version}",
            severity=resolve_severity([severity_word(stated)], scores),
            message=text(vuln.get("Description")),
            pointer=where,
            cwes=tuple(dict.fromkeys(n for n in map(cwe_number, as_list(vuln.get("CweIDs"))) if n)),
            vuln_ids=unique([vuln_id, *(text(v) for v in as_list(vuln.get("VendorIDs")))]),
            component=component,
            path=relative_path(path),
            resource=self.artifact if self.image else "",
            cvss=tuple(scores),
            fixed_versions=unique(v.strip() for v in text(vuln.get("FixedVersion")).split(",")),
            references=unique(
                [text(vuln.get("PrimaryURL")), *map(text, as_list(vuln.get("References")))]
            ),
            properties=_props(
                target=header.get("Target", ""),
                result_class=header.get("Class", ""),
                result_type=header.get("Type", ""),
                status=text(vuln.get("Status")),
                severity_source=text(vuln.get("SeveritySource")),
                tool_severity=stated,
                data_source=text(as_dict(vuln.get("DataSource")).get("ID")),
            ),
        )

    def _component(self, vuln: dict[str, Any], where: str) -> Component:
        identifier = as_dict(vuln.get("PkgIdentifier"))
        at = f"{where}/PkgIdentifier/PURL"
        purl = purl_or_issue(text(identifier.get("PURL")), at, self.issues, "kept without one")
        return Component(
            name=text(vuln.get("PkgName")),
            version=text(vuln.get("InstalledVersion")),
            purl=purl,
            type="library",
            ref=text(vuln.get("PkgID")),
        )

    def _cvss(self, vuln: dict[str, Any], where: str) -> list[Cvss]:
        sources = as_dict(vuln.get("CVSS"))
        first = text(vuln.get("SeveritySource"))
        ordered = sorted(sources, key=lambda name: name != first)
        out: list[Cvss] = []
        for source in ordered:
            entry = as_dict(sources[source])
            for vector_key, score_key, version in _CVSS_KEYS:
                vector = text(entry.get(vector_key))
                score = as_score(entry.get(score_key))
                if not vector and score is None:
                    continue
                at = f"{where}/CVSS/{source}/{vector_key}"
                out.append(self._one_cvss(vector, score, version, source, at))
        return out

    def _one_cvss(
        self, vector: str, score: float | None, version: str, source: str, at: str
    ) -> Cvss:
        if vector:
            try:
                return parse_cvss(vector, hint=version, source=source)
            except InvalidVector as exc:
                self.issues.append(
                    ParseIssue(at, f"{exc}; kept with its score only", lost_finding=False)
                )
        return Cvss(version, "", score, source)

    def _misconfiguration(
        self, header: dict[str, str], where: str, misconf: dict[str, Any]
    ) -> NormalizedFinding | None:
        status = text(misconf.get("Status")).upper()
        if status not in ("FAIL", "EXCEPTION"):
            return None
        rule_id = _check_id(misconf)
        if not rule_id:
            self.issues.append(ParseIssue(where, "misconfiguration has no ID; skipped"))
            return None
        # 0.19-0.21 wrote the location as IacMetadata
        cause = as_dict(misconf.get("CauseMetadata")) or as_dict(misconf.get("IacMetadata"))
        stated = text(misconf.get("Severity"))
        return NormalizedFinding(
            kind="iac",
            tool=TOOL,
            rule_id=rule_id,
            title=text(misconf.get("Title")) or rule_id,
            severity=severity_word(stated) or "info",
            message=text(misconf.get("Message")) or text(misconf.get("Description")),
            pointer=where,
            path=relative_path(header.get("Target", "")),
            start_line=positive_int(cause.get("StartLine")),
            end_line=positive_int(cause.get("EndLine")),
            snippet=_cause_lines(cause),
            resource=text(cause.get("Resource")),
            suppressed=status == "EXCEPTION",
            suppression="trivy-exception" if status == "EXCEPTION" else "",
            references=unique(
                [text(misconf.get("PrimaryURL")), *map(text, as_list(misconf.get("References")))]
            ),
            properties=_props(
                id=text(misconf.get("ID")),
                check_type=text(misconf.get("Type")),
                namespace=text(misconf.get("Namespace")),
                resolution=text(misconf.get("Resolution")),
                provider=text(cause.get("Provider")),
                service=text(cause.get("Service")),
                tool_severity=stated,
                result_type=header.get("Type", ""),
            ),
        )

    def _secret(
        self, header: dict[str, str], where: str, secret: dict[str, Any]
    ) -> NormalizedFinding | None:
        rule_id = text(secret.get("RuleID"))
        if not rule_id:
            self.issues.append(ParseIssue(where, "secret has no RuleID; skipped"))
            return None
        match = secret.get("Match")
        stated = text(secret.get("Severity"))
        return NormalizedFinding(
            kind="secret",
            tool=TOOL,
            rule_id=rule_id,
            title=text(secret.get("Title")) or rule_id,
            severity=severity_word(stated) or "info",
            pointer=where,
            path=relative_path(header.get("Target", "")),
            start_line=positive_int(secret.get("StartLine")),
            end_line=positive_int(secret.get("EndLine")),
            resource=self.artifact if self.image else "",
            secret_hash=sha256_hex(match) if isinstance(match, str) and match else "",
            properties=_props(category=text(secret.get("Category")), tool_severity=stated),
        )


def _check_id(misconf: dict[str, Any]) -> str:
    """AVDID, stable across releases; 0.69+ drops it on built-in checks and writes the same id
    as "DS-0002"/"KSV-0001"/"AWS-0107" in ID, which is AVDID without its "AVD-" prefix."""
    avd_id = text(misconf.get("AVDID"))
    if avd_id:
        return avd_id
    check_id = text(misconf.get("ID"))
    return f"AVD-{check_id}" if _NEW_CHECK_ID.match(check_id) else check_id


def _cause_lines(cause: dict[str, Any]) -> str:
    lines = as_list(as_dict(cause.get("Code")).get("Lines"))
    chosen = [as_dict(line) for line in lines if as_dict(line).get("IsCause")]
    return "\n".join(text(line.get("Content")) for line in chosen)


def _props(**values: str) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}
