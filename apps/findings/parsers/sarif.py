"""SARIF 2.1.0 from any tool (CodeQL, Semgrep, Bandit, checkov, gitleaks, trivy, ...).

Streaming, in two passes over the stream (a non-seekable stream is first copied to a
temporary file, in memory up to 8 MiB). Pass 1 walks the ijson event stream: it checks the
structure, keeps each run's metadata (tool and rules, `originalUriBaseIds`, `invocations`,
`artifacts`) and only counts results, skipping their contents. Pass 2 builds the results one
at a time with ijson's C builder and converts them with their run's metadata. So a
100,000-result log is never held whole, key order inside a run does not matter (Semgrep
writes `results` before `tool`), and a truncated or malformed file fails inside `parse()`
before any finding is produced. Pass 2 is the per-result hot loop, so what depends only on the
rule (kind, title, CWEs, default severity) is derived once per (ruleId, ruleIndex) of a run,
a path is normalised once per distinct uri, the optional parts most results lack are read
only when present, and findings are built with `_common.slots_builder`.

Mapping of one result to a `NormalizedFinding`:

- tool: `tool.driver.name` lower-cased, whitespace collapsed, "Semgrep OSS"/"Semgrep Pro" ->
  "semgrep", "CodeQL command-line toolchain" -> "codeql". Each finding carries its own run's
  tool; `ParseResult.tool_name`/`tool_version` are the first run's (`version`, else
  `semanticVersion`).
- rule: `result.rule.toolComponent` (index or name) selects `tool.extensions[i]`, else the
  driver; then `rule.index`/`ruleIndex`, else lookup by `ruleId` (also its first "/" segment,
  and the other components). `rule_id` = `ruleId`, else `rule.id`, else the rule's id.
- severity: `properties["security-severity"]` of the result, else of the rule, by GitHub's
  bands (>= 9 critical, >= 7 high, >= 4 medium, > 0 low; 0 or out of range = none); else the
  level: result `level`, else the invocation's `ruleConfigurationOverrides`, else the rule's
  `defaultConfiguration.level`, else "warning"; error -> high, warning -> medium,
  note -> low, none -> info. A secret with no level anywhere is "high", as in the gitleaks
  native parser, so one leak scores the same whichever format gitleaks wrote.
- `kind` (SARIF result kind): "pass" and "notApplicable" are not defects and produce no
  finding; "open", "review" and "informational" are imported with severity info and
  `properties["sarif_kind"]`; absent means "fail".
- finding kind, first match wins: "secret" when the tool is a secret scanner (gitleaks,
  trufflehog, detect-secrets, ggshield), a rule tag contains "secret", or the rule id has a
  "secret"/"secrets" word (checkov's CKV_SECRET_*); "iac" when the tool is an IaC scanner
  (checkov, tfsec, kics, terrascan, trivy-config, ...) or trivy tags the rule
  "misconfiguration"; "sca" when the rule id is a vulnerability id (CVE, GHSA, PYSEC,
  RUSTSEC, GO, OSV), which then goes into `vuln_ids` (trivy's "Package:/Installed Version:/
  Fixed Version:" message lines give the component and fixed version); else "sast".
- CWE: rule and result `properties.tags` ("external/cwe/cwe-079", "CWE-79: ..."), a rule
  `cwe` property (string or list), rule `relationships` and result `taxa` whose
  toolComponent is named CWE.
- title: the rule's shortDescription (unless it only repeats the rule id, as Semgrep's does),
  else its fullDescription's first line, else the message's first line.
- message: `message.text`, else `markdown`, else `message.id` looked up in the rule's
  `messageStrings` with `{n}` replaced by `arguments[n]`.
- location: `locations[0].physicalLocation`: `artifactLocation` (`uri`, else
  `run.artifacts[index]`), `region` start/end line, start column, `snippet.text` (else the
  `contextRegion` snippet). `fingerprints` and `partialFingerprints` are kept with their keys
  prefixed "fp:" and "pfp:". `baselineState` is kept.
- suppressions: the first suppression whose `status` is absent or "accepted" marks the finding
  suppressed, with `suppression` = "<kind>: <justification>"; the finding is kept.
- secrets: for kind "secret" the snippet (gitleaks puts the secret itself there) is hashed into
  `secret_hash` and cleared, and removed from the message, title and fingerprints.

Paths (`_common.clean_path`): `file://` stripped, %-decoded, backslashes -> "/", "." and ".."
resolved. A relative uri is relative to the scan root; its `uriBaseId` is followed through
`originalUriBaseIds` and relative base uris ("src/") are prepended, an absolute base is the
root. An absolute uri is made relative to the shortest matching absolute root among the
run's `originalUriBaseIds`, `invocations[].workingDirectory` and the roots the parser was
constructed with; any other absolute uri, or a ".." climbing above the root, is a ParseError
at that uri's JSON pointer. A uri with another scheme (https:, ...) gives no path and is kept
in `properties["uri"]`.

Errors: invalid or truncated JSON, a log that is not an object, no "runs", runs not an array,
zero runs, a "version" other than "2.1.0" (or none), a run without `tool.driver.name`, and
JSON type errors in the fields read (a result, location or message that is not an object, a
uri that is not a string, ...) fail the whole file with a ParseError naming the pointer. A
result missing only optional data is imported. A result that cannot be understood (no rule id
at all, no message) is appended to `ParseResult.skipped`. Line or column numbers that are not
integers in 1..10**9 are treated as absent and noted in `properties["ignored"]`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ._common import (
    MAX_LINE,
    MAX_SNIPPET,
    MAX_TEXT,
    MAX_TITLE,
    JsonEvents,
    as_root,
    as_str,
    cap,
    clean_path,
    event_type_name,
    is_absolute,
    iter_items,
    json_head,
    pointer,
    primed,
    redact,
    rewindable,
    sha256_hex,
    slots_builder,
    strip_file_scheme,
    type_name,
)
from ._sbom import severity_from_score
from .base import Component, NormalizedFinding, ParseError, ParseIssue, Parser, ParseResult

FORMAT = "sarif"
SARIF_VERSION = "2.1.0"
PATH_CACHE_SIZE = 65536
FACTS_CACHE_SIZE = 65536

SECRET_TOOLS = frozenset({"gitleaks", "trufflehog", "detect-secrets", "ggshield"})
IAC_TOOLS = frozenset(
    {"checkov", "tfsec", "kics", "terrascan", "trivy-config", "cfn-lint", "cfn_nag", "tflint"}
)
DEFAULT_LEAK_SEVERITY = "high"  # same as the gitleaks native parser
LEVEL_SEVERITY = {"error": "high", "warning": "medium", "note": "low", "none": "info"}
NOT_DEFECTS = frozenset({"pass", "notApplicable"})
RESULT_KINDS = frozenset({"pass", "open", "informational", "notApplicable", "review", "fail"})
BASELINE_STATES = frozenset({"new", "unchanged", "updated", "absent"})
PRECISION_CONFIDENCE = {"very-high": "high", "high": "high", "medium": "medium", "low": "low"}

_CWE = re.compile(r"cwe[-/_ ]?0*(\d+)", re.IGNORECASE)
_VULN_ID = re.compile(
    r"^(CVE-\d{4}-\d{4,}|GHSA(-[0-9a-z]{4}){3}|PYSEC-\d{4}-\d+|RUSTSEC-\d{4}-\d{4}"
    r"|GO-\d{4}-\d{4,}|OSV-\d{4}-\d+)$",
    re.IGNORECASE,
)
_SECRET_WORD = re.compile(r"(?:^|[^a-z0-9])secrets?(?:[^a-z0-9]|$)", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_TRIVY_LINE = re.compile(r"^(Package|Installed Version|Fixed Version):\s*(.+?)\s*$", re.MULTILINE)

_SCHEMA_HINT = re.compile(rb'"\$schema"\s*:\s*"[^"]*sarif', re.IGNORECASE)
_VERSION_HINT = re.compile(rb'"version"\s*:\s*"2\.1\.0"')
_RUNS_HINT = re.compile(rb'"runs"\s*:\s*\[')
_DRIVER_HINT = re.compile(rb'"driver"\s*:\s*\{')

# Pointers below a result to its first location's parts (only formatted for errors).
_LOCATION = "/locations/0"
_PHYSICAL = _LOCATION + "/physicalLocation"
_ARTIFACT = _PHYSICAL + "/artifactLocation"
_NO_LOCATION = ("", None, None, None, "", "")
_NO_PROPERTIES: dict[str, Any] = {}
_NOT_SCA: tuple[tuple[str, ...], Component | None, tuple[str, ...]] = ((), None, ())
# The NormalizedFinding fields `_build` sets, in the order it passes them.
_FINDING_FIELDS = (
    "kind",
    "tool",
    "rule_id",
    "title",
    "severity",
    "message",
    "pointer",
    "confidence",
    "cwes",
    "vuln_ids",
    "component",
    "path",
    "start_line",
    "end_line",
    "start_column",
    "snippet",
    "fingerprints",
    "secret_hash",
    "fixed_versions",
    "suppressed",
    "suppression",
    "baseline_state",
    "references",
    "properties",
)
_new_finding = slots_builder(NormalizedFinding, _FINDING_FIELDS)


@dataclass(frozen=True, slots=True)
class _Rule:
    """The parts of a reportingDescriptor a finding needs (rules can number thousands)."""

    id: str = ""
    title: str = ""
    level: str = ""
    security_severity: float | None = None
    tags: tuple[str, ...] = ()
    cwes: tuple[int, ...] = ()
    help_uri: str = ""
    confidence: str = ""
    message_strings: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Component:
    """A toolComponent (the driver or an extension) with its rules."""

    name: str = ""
    version: str = ""
    rules: list[_Rule] = field(default_factory=list)
    by_id: dict[str, _Rule] = field(default_factory=dict)

    def add(self, rule: _Rule) -> None:
        self.rules.append(rule)
        if rule.id:
            self.by_id.setdefault(rule.id, rule)


@dataclass(frozen=True, slots=True)
class _RuleFacts:
    """What a result's rule decides, derived once per rule of a run instead of per result
    (100,000 results typically share a few dozen rules)."""

    rule: _Rule | None  # as resolved; None when the log does not declare it
    effective: _Rule  # `rule`, else a bare _Rule carrying the result's ruleId
    rule_id: str
    kind: str  # finding kind from the tool and the rule's tags (result tags may change it)
    score_severity: str  # from the rule's security-severity; "" when it has none
    level: str  # invocation override, else the rule's default level; "" when neither
    references: tuple[str, ...]


@dataclass(slots=True)
class _Run:
    """What a run declares that results refer to."""

    index: int
    tool: str = ""
    driver: _Component | None = None
    extensions: list[_Component] = field(default_factory=list)
    bases: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (uri, parent id)
    working_dirs: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (uri, uriBaseId)
    overrides: dict[str, str] = field(default_factory=dict)  # rule id -> level
    index_overrides: dict[int, str] = field(default_factory=dict)  # driver rule index -> level
    roots: tuple[str, ...] | None = None
    count: int = 0  # results in this run, counted by pass 1
    # (uri, uriBaseId) -> (path, non-file uri): results of one run share few distinct files
    paths: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # (ruleId, ruleIndex) -> what that rule decides; None when the result has no rule id
    facts: dict[tuple[str | None, int | None], _RuleFacts | None] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return pointer("runs", self.index)


class SarifParser(Parser):
    """SARIF 2.1.0 logs; `roots` are extra absolute checkout roots (e.g. "/builds/app")."""

    format = FORMAT
    label = "SARIF 2.1.0"
    priority = 10

    def __init__(self, *, roots: Sequence[str] = ()) -> None:
        self.roots = tuple(as_root(root) for root in roots)

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """A JSON object whose $schema names SARIF, or with "runs" plus version 2.1.0 or a
        tool driver (Bandit writes "runs" first and "version" last)."""
        if not json_head(head).startswith(b"{"):
            return False
        if _SCHEMA_HINT.search(head):
            return True
        return bool(
            _RUNS_HINT.search(head) and (_VERSION_HINT.search(head) or _DRIVER_HINT.search(head))
        )

    def parse(self, stream: BinaryIO) -> ParseResult:
        result = ParseResult(format=FORMAT)
        result.findings = primed(_Reader(stream, result, self.roots).findings())
        return result


def canonical_tool(name: str) -> str:
    """Lower-cased driver name with the few known renamings folded together."""
    tool = " ".join(name.lower().split())
    for family in ("semgrep", "codeql"):
        if tool.startswith(family):
            return family
    return tool


def infer_kind(tool: str, rule_id: str, tags: Sequence[str]) -> str:
    """The finding kind from the tool and rule (rules in the module docstring)."""
    lowered = [tag.lower() for tag in tags]
    if (
        tool in SECRET_TOOLS
        or any("secret" in tag for tag in lowered)
        or _SECRET_WORD.search(rule_id)
    ):
        return "secret"
    if tool in IAC_TOOLS or (tool == "trivy" and "misconfiguration" in lowered):
        return "iac"
    if _VULN_ID.match(rule_id):
        return "sca"
    return "sast"


def severity_band(score: float) -> str | None:
    """GitHub's security-severity bands; None for 0, negative, > 10 or NaN."""
    return severity_from_score(score) if 0 < score <= 10 else None


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0 < score <= 10 else None


def _cwes(values: Sequence[Any]) -> tuple[int, ...]:
    found: list[int] = []
    for value in values:
        if isinstance(value, str):
            found.extend(int(m) for m in _CWE.findall(value))
    return tuple(dict.fromkeys(n for n in found if 0 < n < 100000))


def _taxa_cwes(refs: Any) -> list[str]:
    """CWE ids from reportingDescriptorReferences whose toolComponent is named CWE."""
    out: list[str] = []
    for ref in refs if isinstance(refs, list) else ():
        target = ref.get("target", ref) if isinstance(ref, dict) else None
        if not isinstance(target, dict):
            continue
        component = target.get("toolComponent")
        name = component.get("name") if isinstance(component, dict) else None
        ident = target.get("id")
        if isinstance(name, str) and name.lower() == "cwe" and isinstance(ident, str | int):
            text = str(ident)
            out.append(text if text.lower().startswith("cwe") else f"CWE-{text}")
    return out


def _text(obj: Any, key: str) -> str:
    """obj[key]["text"] when it is a string (multiformatMessageString), else ""."""
    inner = obj.get(key) if isinstance(obj, dict) else None
    text = inner.get("text") if isinstance(inner, dict) else None
    return text if isinstance(text, str) else ""


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _rule_from(raw: Any, where: str) -> _Rule:
    if not isinstance(raw, dict):
        raise ParseError(
            FORMAT, f"a rule must be a JSON object, got {type_name(raw)}", pointer=where
        )
    props = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    tags = (
        tuple(t for t in props.get("tags", ()) if isinstance(t, str))
        if isinstance(props.get("tags"), list)
        else ()
    )
    cwe_prop = props.get("cwe")
    cwe_values = [cwe_prop] if isinstance(cwe_prop, str) else cwe_prop
    rule_id = raw.get("id") if isinstance(raw.get("id"), str) else ""
    config = raw.get("defaultConfiguration")
    level = config.get("level") if isinstance(config, dict) else None
    short = _text(raw, "shortDescription")
    restates_id = bool(rule_id) and rule_id in short
    title = short if short and not restates_id else _first_line(_text(raw, "fullDescription"))
    strings = raw.get("messageStrings")
    precision = props.get("precision")
    return _Rule(
        id=rule_id,
        title=cap(title, MAX_TITLE),
        level=level if level in LEVEL_SEVERITY else "",
        security_severity=_score(props.get("security-severity")),
        tags=tags,
        cwes=_cwes(
            list(tags)
            + (cwe_values if isinstance(cwe_values, list) else [])
            + _taxa_cwes(raw.get("relationships"))
        ),
        help_uri=raw["helpUri"] if isinstance(raw.get("helpUri"), str) else "",
        confidence=PRECISION_CONFIDENCE.get(precision, "") if isinstance(precision, str) else "",
        message_strings={
            k: v["text"]
            for k, v in (strings.items() if isinstance(strings, dict) else ())
            if isinstance(v, dict) and isinstance(v.get("text"), str)
        },
    )


def _get(obj: dict[str, Any], key: str, kind: type, where: str, inner: str = "") -> Any:
    """obj[key] if it has the SARIF type (None when absent or null), else a ParseError at
    `where` + `inner` + "/key" (the pointer is only formatted for the error)."""
    value = obj.get(key)
    if value is None or value.__class__ is kind:  # the exact type ijson builds: no isinstance
        return value
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    expected = {dict: "an object", list: "an array", str: "a string", int: "an integer"}[kind]
    raise ParseError(
        FORMAT,
        f"{key} must be {expected}, got {type_name(value)}",
        pointer=f"{where}{inner}/{key}",
    )


class _Reader:
    """Walks one SARIF log's events and yields findings; see the module docstring."""

    def __init__(self, stream: BinaryIO, result: ParseResult, roots: tuple[str, ...]) -> None:
        self.stream = stream
        self.src: JsonEvents
        self.result = result
        self.roots = roots

    # -- pass 1: structure and run metadata --------------------------------------------

    def findings(self) -> Iterator[NormalizedFinding]:
        """Pass 1 checks the structure and collects each run's metadata, counting results;
        pass 2 builds the results one at a time (in C) and converts them."""
        stream, start = rewindable(self.stream)
        try:
            self.src = JsonEvents(stream, FORMAT)
            runs = self._scan(self.src)
            stream.seek(start)
            results = iter_items(stream, "runs.item.results.item", FORMAT)
            for run in runs:
                yield from self._run_findings(run, results)
        finally:
            if stream is not self.stream:
                stream.close()

    def _scan(self, src: JsonEvents) -> list[_Run]:
        event, _ = src.next()
        if event != "start_map":
            raise src.error(f"a SARIF log must be a JSON object, got {event_type_name(event)}")
        version: Any = None
        runs: list[_Run] | None = None
        for key in src.members():
            event, value = src.next()
            src.where = pointer(key)
            if key == "version":
                version = src.value(event, value)
                self._check_version(version)
            elif key == "runs":
                if runs is not None:
                    raise src.error('the SARIF log has two "runs" keys')
                if event != "start_array":
                    raise src.error(f"runs must be an array, got {event_type_name(event)}")
                runs = [self._run(src, i, event) for i, (event, _) in enumerate(src.elements())]
            else:
                src.skip(event)
        src.end()
        if version is None:
            raise src.error(f'SARIF log has no "version"; expected "{SARIF_VERSION}"')
        if runs is None:
            raise src.error('not a SARIF log: it has no "runs" array')
        if not runs:
            raise src.error("SARIF has no runs", pointer("runs"))
        return runs

    def _check_version(self, version: Any) -> None:
        if version != SARIF_VERSION:
            raise self.src.error(
                f"unsupported SARIF version {version!r}; only {SARIF_VERSION} is supported",
                pointer("version"),
            )

    def _run(self, src: JsonEvents, index: int, event: str) -> _Run:
        run = _Run(index=index)
        src.where = run.where
        if event != "start_map":
            raise src.error(f"a run must be a JSON object, got {event_type_name(event)}")
        for key in src.members():
            event, value = src.next()
            src.where = pointer("runs", index, key)
            if key == "tool":
                self._tool(run, event)
            elif key == "originalUriBaseIds":
                run.bases = self._bases(src.value(event, value))
            elif key == "invocations":
                self._invocations(run, event)
            elif key == "artifacts":
                self._artifacts(run, event)
            elif key == "results":
                self._count_results(run, event)
            else:
                src.skip(event)
        if run.driver is None:
            raise src.error("run has no tool.driver", run.where)
        return run

    def _count_results(self, run: _Run, event: str) -> None:
        """Pass 1 only checks that each result is an object and counts them."""
        src = self.src
        if event == "null":
            return
        if event != "start_array":
            raise src.error(f"results must be an array, got {event_type_name(event)}")
        base = pointer("runs", run.index, "results")
        for first, _ in src.elements():
            src.where = f"{base}/{run.count}"
            if first != "start_map":
                raise src.error(f"a result must be a JSON object, got {event_type_name(first)}")
            src.skip(first)
            run.count += 1

    def _tool(self, run: _Run, event: str) -> None:
        src = self.src
        if event != "start_map":
            raise src.error(f"tool must be an object, got {event_type_name(event)}")
        for key in src.members():
            event, _ = src.next()
            if key == "driver":
                run.driver = self._component(event, pointer("runs", run.index, "tool", "driver"))
            elif key == "extensions":
                if event != "start_array":
                    raise src.error(
                        f"tool.extensions must be an array, got {event_type_name(event)}"
                    )
                for i, (event, _) in enumerate(src.elements()):
                    where = pointer("runs", run.index, "tool", "extensions", i)
                    run.extensions.append(self._component(event, where))
            else:
                src.skip(event)
        if run.driver is None or not run.driver.name:
            raise src.error("tool.driver.name is missing", pointer("runs", run.index, "tool"))
        run.tool = canonical_tool(run.driver.name)
        if run.index == 0:
            self.result.tool_name = run.tool
            self.result.tool_version = run.driver.version

    def _component(self, event: str, where: str) -> _Component:
        src = self.src
        if event != "start_map":
            raise src.error(
                f"a toolComponent must be an object, got {event_type_name(event)}", where
            )
        component = _Component()
        version = semantic = ""
        for key in src.members():
            event, value = src.next()
            if key == "rules" and event == "start_array":
                for i, (event, value) in enumerate(src.elements()):
                    rule_where = f"{where}/rules/{i}"
                    src.where = rule_where
                    component.add(_rule_from(src.value(event, value), rule_where))
            elif key in ("name", "version", "semanticVersion"):
                text = as_str(src.value(event, value))
                if key == "name":
                    component.name = text
                elif key == "version":
                    version = text
                else:
                    semantic = text
            else:
                src.skip(event)
        component.version = version or semantic
        return component

    def _bases(self, raw: Any) -> dict[str, tuple[str, str]]:
        if not isinstance(raw, dict):
            raise self.src.error(f"originalUriBaseIds must be an object, got {type_name(raw)}")
        bases: dict[str, tuple[str, str]] = {}
        for name, location in raw.items():
            if isinstance(location, dict) and isinstance(location.get("uri"), str):
                parent = location.get("uriBaseId")
                bases[name] = (location["uri"], parent if isinstance(parent, str) else "")
        return bases

    def _invocations(self, run: _Run, event: str) -> None:
        src = self.src
        if event != "start_array":
            src.skip(event)
            return
        for first, _ in src.elements():
            if first != "start_map":
                src.skip(first)
                continue
            for key in src.members():
                member, value = src.next()
                if key in ("workingDirectory", "ruleConfigurationOverrides"):
                    self._invocation_field(run, key, src.value(member, value))
                else:
                    src.skip(member)

    def _invocation_field(self, run: _Run, key: str, value: Any) -> None:
        if key == "workingDirectory":
            uri = value.get("uri") if isinstance(value, dict) else None
            if isinstance(uri, str):
                run.working_dirs.append(uri)
            return
        for override in value if isinstance(value, list) else ():
            if not isinstance(override, dict):
                continue
            descriptor, config = override.get("descriptor"), override.get("configuration")
            level = config.get("level") if isinstance(config, dict) else None
            if not isinstance(descriptor, dict) or level not in LEVEL_SEVERITY:
                continue
            if isinstance(descriptor.get("id"), str):
                run.overrides[descriptor["id"]] = level
            elif isinstance(descriptor.get("index"), int):
                run.index_overrides[descriptor["index"]] = level

    def _artifacts(self, run: _Run, event: str) -> None:
        src = self.src
        if event != "start_array":
            src.skip(event)
            return
        for first, _ in src.elements():
            uri = base = ""
            if first != "start_map":
                src.skip(first)
                run.artifacts.append((uri, base))
                continue
            for key in src.members():
                member, value = src.next()
                if key != "location":
                    src.skip(member)
                    continue
                location = src.value(member, value)
                if isinstance(location, dict):
                    uri = as_str(location.get("uri"))
                    base = as_str(location.get("uriBaseId"))
            run.artifacts.append((uri, base))

    # -- pass 2: results ---------------------------------------------------------------

    def _run_findings(self, run: _Run, results: Iterator[Any]) -> Iterator[NormalizedFinding]:
        """The findings of one run: the next `run.count` results of the stream."""
        base = f"/runs/{run.index}/results/"
        convert = self._convert
        done = 0
        for raw in itertools.islice(results, run.count):
            finding = convert(raw, run, f"{base}{done}")
            done += 1
            if finding is not None:
                yield finding
        if done < run.count:
            where = f"{base}{done}"
            raise ParseError(FORMAT, "the report changed while it was read", pointer=where)

    def _convert(self, raw: Any, run: _Run, where: str) -> NormalizedFinding | None:
        """One result -> a finding; None for non-defects and for results recorded as skipped."""
        if not isinstance(raw, dict):
            raise ParseError(
                FORMAT, f"a result must be a JSON object, got {type_name(raw)}", pointer=where
            )
        sarif_kind = raw.get("kind")
        if sarif_kind is None:
            sarif_kind = "fail"
        else:
            sarif_kind = _get(raw, "kind", str, where) or "fail"
            if sarif_kind in NOT_DEFECTS:
                return None
            if sarif_kind not in RESULT_KINDS:
                sarif_kind = "fail"
        facts = self._facts(raw, run, where)
        if facts is None:
            return self._skip(where, "result has no ruleId and no resolvable rule")
        message = self._message(raw, facts.rule, where)
        if not message:
            return self._skip(where, "result has no message text")
        return self._build(raw, run, where, facts, message=message, sarif_kind=sarif_kind)

    def _skip(self, where: str, message: str) -> None:
        self.result.skipped.append(ParseIssue(pointer=where, message=message))

    def _facts(self, raw: dict[str, Any], run: _Run, where: str) -> _RuleFacts | None:
        """What the result's rule decides, cached per (ruleId, ruleIndex) within the run.

        A result with a `rule` reference object (rare) is resolved without the cache, since
        the reference takes part in the lookup. None: no rule id at all (skip the result).
        """
        if "rule" in raw:
            return self._derive_facts(raw, run, where)
        rule_id = raw.get("ruleId")
        if rule_id.__class__ is not str:
            rule_id = _get(raw, "ruleId", str, where)
        index = raw.get("ruleIndex")
        key = (rule_id, index if index.__class__ is int else None)
        try:
            return run.facts[key]
        except KeyError:
            pass
        if len(run.facts) >= FACTS_CACHE_SIZE:
            run.facts.clear()
        facts = run.facts[key] = self._derive_facts(raw, run, where)
        return facts

    def _derive_facts(self, raw: dict[str, Any], run: _Run, where: str) -> _RuleFacts | None:
        rule, rule_index = self._rule(raw, run, where)
        ref = _get(raw, "rule", dict, where) or {}
        rule_id = (
            _get(raw, "ruleId", str, where) or as_str(ref.get("id")) or (rule.id if rule else "")
        )
        if not rule_id:
            return None
        effective = rule or _Rule(id=rule_id)
        score = effective.security_severity
        level = (
            run.overrides.get(effective.id)
            or (run.index_overrides.get(rule_index) if rule_index is not None else None)
            or effective.level
        )
        return _RuleFacts(
            rule=rule,
            effective=effective,
            rule_id=rule_id,
            kind=infer_kind(run.tool, rule_id, effective.tags),
            score_severity=(severity_band(score) or "medium") if score is not None else "",
            level=level or "",
            references=(effective.help_uri,) if effective.help_uri else (),
        )

    def _build(
        self,
        raw: dict[str, Any],
        run: _Run,
        where: str,
        facts: _RuleFacts,
        *,
        message: str,
        sarif_kind: str,
    ) -> NormalizedFinding:
        """The finding for one result. Optional parts most results lack (result tags, taxa,
        fingerprints, suppressions) are only looked at when present."""
        notes: list[str] = []
        props = raw.get("properties")
        if props.__class__ is not dict:
            props = props if isinstance(props, dict) else _NO_PROPERTIES
        rule = facts.effective
        kind, cwes = facts.kind, rule.cwes
        if props:
            kind, cwes = _with_result_tags(props, run.tool, facts, kind, cwes)
        if raw.get("taxa") is not None:
            cwes = tuple(dict.fromkeys(cwes + _cwes(_taxa_cwes(raw["taxa"]))))
        path, start, end, column, snippet, uri = self._location(raw, run, where, notes)
        fingerprints = (
            _fingerprints(raw, where)
            if "fingerprints" in raw or "partialFingerprints" in raw
            else {}
        )
        secret_hash = ""
        title = rule.title or cap(_first_line(message), MAX_TITLE)
        if kind == "secret":
            secret_hash = sha256_hex(snippet) if snippet else ""
            message = redact(message, [snippet])
            title = redact(title, [snippet])
            fingerprints = {k: redact(v, [snippet]) for k, v in fingerprints.items()}
            snippet = ""
        suppressed, suppression = _suppression(raw, where) if "suppressions" in raw else (False, "")
        properties: dict[str, str] = {}
        if sarif_kind != "fail":
            properties["sarif_kind"] = sarif_kind
        if uri:
            properties["uri"] = uri
        if notes:
            properties["ignored"] = "; ".join(notes)
        baseline = raw.get("baselineState")
        if not isinstance(baseline, str):
            baseline = ""
        vuln_ids, component, fixed = (
            _sca_details(facts.rule_id, message) if kind == "sca" else _NOT_SCA
        )
        # Positional, in _FINDING_FIELDS order (see `slots_builder` for why not keywords).
        return _new_finding(
            kind,
            run.tool,
            facts.rule_id,
            title,
            _severity(raw, props, facts, sarif_kind, kind),
            cap(message, MAX_TEXT),
            where,
            (_confidence(props) if props else "") or rule.confidence,
            cwes,
            vuln_ids,
            component,
            path,
            start,
            end,
            column,
            cap(snippet, MAX_SNIPPET),
            fingerprints,
            secret_hash,
            fixed,
            suppressed,
            suppression,
            baseline if baseline in BASELINE_STATES else "",
            facts.references,
            properties,
        )

    def _rule(self, raw: dict[str, Any], run: _Run, where: str) -> tuple[_Rule | None, int | None]:
        """The reportingDescriptor a result refers to, and its index in the driver if any."""
        ref = _get(raw, "rule", dict, where) or {}
        component = run.driver
        in_driver = True
        tool_ref = _get(ref, "toolComponent", dict, where, "/rule") if ref else None
        if tool_ref:
            component, in_driver = self._component_for(tool_ref, run)
        index = ref.get("index") if isinstance(ref.get("index"), int) else raw.get("ruleIndex")
        index = index if isinstance(index, int) and not isinstance(index, bool) else None
        rule_id = raw.get("ruleId") if isinstance(raw.get("ruleId"), str) else ref.get("id")
        rule = None
        if component is not None and index is not None and 0 <= index < len(component.rules):
            rule = component.rules[index]
        if isinstance(rule_id, str) and (rule is None or rule.id != rule_id):
            rule = _lookup(rule_id, [component] if component else [], run) or rule
        return rule, (index if in_driver and rule is not None else None)

    def _component_for(self, ref: dict[str, Any], run: _Run) -> tuple[_Component | None, bool]:
        index, name = ref.get("index"), ref.get("name")
        if isinstance(index, int) and not isinstance(index, bool):
            ok = 0 <= index < len(run.extensions)
            return (run.extensions[index] if ok else None), False
        if isinstance(name, str):
            for component in run.extensions:
                if component.name == name:
                    return component, False
        return run.driver, True

    def _message(self, raw: dict[str, Any], rule: _Rule | None, where: str) -> str:
        message = raw.get("message")
        if message.__class__ is not dict:
            message = _get(raw, "message", dict, where)
        if not message:
            return ""
        text = message.get("text")
        if text.__class__ is str and text.strip():  # the usual case, checked first
            return text
        for key in ("text", "markdown"):
            text = message.get(key)
            if isinstance(text, str) and text.strip():
                return text
        template = rule.message_strings.get(message.get("id", "")) if rule else None
        if not template:
            return ""
        args = message.get("arguments")
        args = [as_str(a) for a in args] if isinstance(args, list) else []

        def fill(match: re.Match[str]) -> str:
            n = int(match.group(1))
            return args[n] if n < len(args) else match.group(0)

        return _PLACEHOLDER.sub(fill, template)

    # -- location ----------------------------------------------------------------------

    def _location(
        self, raw: dict[str, Any], run: _Run, where: str, notes: list[str]
    ) -> tuple[str, int | None, int | None, int | None, str, str]:
        """(path, start line, end line, start column, snippet, non-file uri).

        The hot path of a large log: each level is read with a plain `get` and an exact type
        test, and `_get` (type error with its pointer) is only called when that test fails.
        """
        locations = raw.get("locations")
        if locations.__class__ is not list:
            locations = _get(raw, "locations", list, where)
        if not locations:
            return _NO_LOCATION
        first = locations[0]
        if not isinstance(first, dict):
            raise ParseError(
                FORMAT,
                f"a location must be a JSON object, got {type_name(first)}",
                pointer=where + _LOCATION,
            )
        physical = first.get("physicalLocation")
        if physical.__class__ is not dict:
            physical = _get(first, "physicalLocation", dict, where, _LOCATION)
        if not physical:
            return _NO_LOCATION
        artifact = physical.get("artifactLocation")
        if artifact.__class__ is not dict:
            artifact = _get(physical, "artifactLocation", dict, where, _PHYSICAL)
        path, uri = self._path(artifact, run, where) if artifact else ("", "")
        region = physical.get("region")
        if region.__class__ is not dict:
            region = _get(physical, "region", dict, where, _PHYSICAL)
        context = physical.get("contextRegion")
        if context is not None:
            context = _get(physical, "contextRegion", dict, where, _PHYSICAL)
        start = end = column = None
        snippet = ""
        if region:
            start, end, column = _region_lines(region, notes)
            snippet = _text(region, "snippet")
        if not snippet and context:
            snippet = _text(context, "snippet")
        return path, start, end, column, snippet, uri

    def _path(self, artifact: dict[str, Any], run: _Run, where: str) -> tuple[str, str]:
        """(path, non-file uri) of an artifactLocation; normalised once per distinct uri."""
        uri = artifact.get("uri")
        if uri.__class__ is not str:
            uri = _get(artifact, "uri", str, where, _ARTIFACT)
        base = artifact.get("uriBaseId")
        if base.__class__ is not str:
            base = _get(artifact, "uriBaseId", str, where, _ARTIFACT) or ""
        if uri is None:
            index = artifact.get("index")
            if isinstance(index, int) and 0 <= index < len(run.artifacts):
                uri, base = run.artifacts[index]
                base = base or ""
        if not uri:
            return "", ""
        cached = run.paths.get((uri, base))
        if cached is not None:
            return cached
        path = strip_file_scheme(uri)
        if path is None:
            resolved = ("", uri)
        else:
            prefix = "" if is_absolute(path) else self._base_prefix(base, run)
            resolved = (
                clean_path(
                    path,
                    fmt=FORMAT,
                    where=f"{where}{_ARTIFACT}/uri",
                    roots=self._roots(run),
                    prefix=prefix,
                ),
                "",
            )
        if len(run.paths) >= PATH_CACHE_SIZE:
            run.paths.clear()
        run.paths[(uri, base)] = resolved
        return resolved

    def _base_prefix(self, base: str, run: _Run) -> str:
        """Relative segments contributed by a uriBaseId chain; an absolute base is the root."""
        segments: list[str] = []
        seen: set[str] = set()
        while base and base in run.bases and base not in seen:
            seen.add(base)
            uri, parent = run.bases[base]
            path = strip_file_scheme(uri)
            if path is None or is_absolute(path):
                break
            segments.insert(0, path)
            base = parent
        return "/".join(s.strip("/") for s in segments if s.strip("/"))

    def _roots(self, run: _Run) -> tuple[str, ...]:
        """Absolute roots absolute uris may live under, shortest first (computed once)."""
        if run.roots is None:
            found = list(self.roots)
            for name in run.bases:
                absolute = self._absolute_base(name, run)
                if absolute:
                    found.append(as_root(absolute))
            for uri in run.working_dirs:
                path = strip_file_scheme(uri)
                if path and is_absolute(path):
                    found.append(as_root(path))
            run.roots = tuple(sorted(set(found), key=len))
        return run.roots

    def _absolute_base(self, name: str, run: _Run) -> str:
        """A base id resolved through its chain to an absolute directory, or ""."""
        parts: list[str] = []
        seen: set[str] = set()
        while name in run.bases and name not in seen:
            seen.add(name)
            uri, parent = run.bases[name]
            path = strip_file_scheme(uri)
            if path is None:
                return ""
            parts.insert(0, path)
            if is_absolute(path):
                rest = [p.strip("/") for p in parts[1:] if p.strip("/")]
                return "/".join([path.rstrip("/"), *rest])
            name = parent
        return ""


def _lookup(rule_id: str, preferred: list[_Component], run: _Run) -> _Rule | None:
    """A rule by id (or by its first hierarchical segment) in `preferred`, then everywhere."""
    components = preferred + [c for c in [run.driver, *run.extensions] if c and c not in preferred]
    for candidate in (rule_id, rule_id.split("/", 1)[0]):
        for component in components:
            rule = component.by_id.get(candidate)
            if rule is not None:
                return rule
    return None


def _region_lines(
    region: dict[str, Any], notes: list[str]
) -> tuple[int | None, int | None, int | None]:
    start, end, column = region.get("startLine"), region.get("endLine"), region.get("startColumn")
    if not (  # usual case: absent, or an int in 1..MAX_LINE (a bool is not an int here)
        (start is None or (start.__class__ is int and 0 < start <= MAX_LINE))
        and (end is None or (end.__class__ is int and 0 < end <= MAX_LINE))
        and (column is None or (column.__class__ is int and 0 < column <= MAX_LINE))
    ):
        start = _line(region, "startLine", notes)
        end = _line(region, "endLine", notes)
        column = _line(region, "startColumn", notes)
    if start is not None and end is not None and end < start:
        notes.append(f"region.endLine={end} before startLine")
        end = None
    return start, end, column


def _line(region: dict[str, Any], key: str, notes: list[str]) -> int | None:
    """region[key] when it is a usable line/column number; anything else present is noted
    (spelled as JSON, which is only worth doing for such abnormal values)."""
    value = region.get(key)
    if value is None:
        return None
    if value.__class__ is int and 0 < value <= MAX_LINE:  # bool is not int here
        return value
    notes.append(f"region.{key}={cap(json.dumps(value), 40)}")
    return None


def _with_result_tags(
    props: dict[str, Any], tool: str, facts: _RuleFacts, kind: str, cwes: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """Kind and CWEs when the result adds its own `properties.tags` to the rule's."""
    tags = props.get("tags")
    extra = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    if not extra:
        return kind, cwes
    kind = infer_kind(tool, facts.rule_id, facts.effective.tags + tuple(extra))
    return kind, tuple(dict.fromkeys(cwes + _cwes(extra)))


def _severity(
    raw: dict[str, Any], props: dict[str, Any], facts: _RuleFacts, sarif_kind: str, kind: str
) -> str:
    """Result security-severity, rule security-severity, result level, invocation override,
    rule level, then the secret default or "warning" (see the module docstring)."""
    if sarif_kind != "fail":
        return "info"
    score = _score(props["security-severity"]) if "security-severity" in props else None
    if score is not None:
        return severity_band(score) or "medium"
    if facts.score_severity:
        return facts.score_severity
    level = raw.get("level")
    if not isinstance(level, str) or level not in LEVEL_SEVERITY:
        level = facts.level
    if not level and kind == "secret":
        return DEFAULT_LEAK_SEVERITY
    return LEVEL_SEVERITY[level or "warning"]


def _fingerprints(raw: dict[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, prefix in (("fingerprints", "fp:"), ("partialFingerprints", "pfp:")):
        for name, value in (_get(raw, key, dict, where) or {}).items():
            text = as_str(value)
            if text:
                out[prefix + name] = cap(text, 1024)
    return out


def _suppression(raw: dict[str, Any], where: str) -> tuple[bool, str]:
    suppressions = _get(raw, "suppressions", list, where) or []
    for i, item in enumerate(suppressions):
        if not isinstance(item, dict):
            raise ParseError(
                FORMAT,
                f"a suppression must be a JSON object, got {type_name(item)}",
                pointer=f"{where}/suppressions/{i}",
            )
        if item.get("status") in (None, "accepted"):
            kind = as_str(item.get("kind")) or "suppressed"
            justification = as_str(item.get("justification")).strip()
            text = f"{kind}: {justification}" if justification else kind
            return True, cap(text, MAX_TITLE)
    return False, ""


def _confidence(props: dict[str, Any]) -> str:
    """Bandit-style `issue_confidence` (HIGH/MEDIUM/LOW) on the result."""
    value = props.get("issue_confidence")
    value = value.lower() if isinstance(value, str) else ""
    return value if value in ("high", "medium", "low") else ""


def _sca_details(
    rule_id: str, message: str
) -> tuple[tuple[str, ...], Component | None, tuple[str, ...]]:
    """vuln_ids, component and fixed versions of an SCA result (trivy's message lines)."""
    fields = dict(_TRIVY_LINE.findall(message))
    name = fields.get("Package", "")
    component = Component(name=name, version=fields.get("Installed Version", "")) if name else None
    fixed = tuple(v.strip() for v in fields.get("Fixed Version", "").split(",") if v.strip())
    return (rule_id,), component, fixed
