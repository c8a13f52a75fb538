"""checkov's native JSON report (`checkov -o json`).

The report is one object `{"check_type", "results": {"failed_checks", "passed_checks",
"skipped_checks", "parsing_errors"}, "summary": {..., "checkov_version"}}`, or a list of such
objects (one per framework) when several frameworks ran. With nothing to scan checkov writes
only the summary counters (`{"passed": 0, ..., "checkov_version": ...}`): zero findings.

Mapping, one finding per failed check and per skipped check (passed checks are not findings):

- rule_id = `check_id`, title = `check_name`, message = `description` or `short_description`,
  resource = `resource` (the address, e.g. `aws_s3_bucket.data`), references = `guideline`;
  tool "checkov", version from `summary.checkov_version`; no fingerprints.
- kind: "sca" when the check carries `vulnerability_details.id` (checkov's SCA frameworks: the
  id goes into `vuln_ids`, package name/version into `component`, `fixed_versions`, the CVSS
  vector/score into `cvss`, and the title is `short_description`, "CVE-... - pkg: version",
  since every SCA check is named "SCA package scan"); "secret" for the secrets
  framework (`check_type` "secrets" or a `CKV_SECRET_*` id, whose snippet is cleared); else
  "iac".
- severity: `severity` lower-cased (MODERATE -> medium, IMPORTANT -> high, NONE/OFF -> info)
  when non-null; otherwise "medium", marked `properties["severity_defaulted"] = "true"`:
  checkov only fills severity from the Prisma Cloud platform, so without an API key it is
  always null and the default is a placeholder, not an assessment.
- skipped checks are kept with suppressed=True and suppression "skipped: <suppress_comment>".
- path: `repo_file_path`, else `file_path`. checkov writes paths relative to its working
  directory (`file_path`: to the scanned directory) with a leading "/" ("/main.tf"): an
  anchored path (`_paths`), relative to a source root that contains it, else the slash is
  dropped. When `file_abs_path` equals the path, the path really is absolute (checkov run
  from `/`, as in a container: "/tf/main.tf") and goes through the whole resolution order,
  whose last resort before dropping the "/" is the directory checkov scanned (`file_abs_path`
  minus `file_path`). The path as written is kept as original_path.
- lines from `file_line_range` [start, end]; snippet from `code_block` lines.
- `parsing_errors` (files checkov could not parse) are reported in `ParseResult.skipped`.

Errors: invalid or truncated JSON, a top level that is neither an object nor an array, a
report or check that is not an object, `results` or a checks list of the wrong type:
ParseError with the JSON pointer. A check without `check_id` is skipped and reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._common import (
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
    json_head,
    line_number,
    original_of,
    pointer,
    primed,
    type_name,
)
from ._sbom import severity_word
from .base import (
    Component,
    Cvss,
    NormalizedFinding,
    ParseError,
    ParseIssue,
    Parser,
    ParseResult,
    PathContext,
    ReportTarget,
)

FORMAT = "checkov"
DEFAULT_SEVERITY = "medium"
_CHECK_LISTS = {"failed_checks": False, "skipped_checks": True}  # name -> suppressed

_CVSS_VERSION = re.compile(r"^CVSS:(3\.[01]|4\.0)/")
_REPORT_KEYS = frozenset({"check_type", "results", "summary", "checkov_version"})
_CHECK_TYPE_HINT = re.compile(rb'"check_type"\s*:\s*"')
_RESULTS_HINT = re.compile(rb'"(failed|passed|skipped)_checks"\s*:|"checkov_version"\s*:')
_EMPTY_HINT = re.compile(rb'"checkov_version"\s*:')
_COUNTERS_HINT = re.compile(rb'"resource_count"\s*:')


class CheckovParser(Parser):
    """checkov `-o json` (absolute paths resolve through `self.paths`)."""

    format = FORMAT
    label = "checkov JSON"
    shape = "object-or-array"
    expects = "`check_type` with `results` (or the `checkov_version` summary)"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """An object or list with "check_type" and a checks list or checkov_version, or
        the summary-only object checkov writes when there was nothing to scan."""
        start = json_head(head)
        if not start.startswith((b"{", b"[")):
            return False
        if _CHECK_TYPE_HINT.search(head) and _RESULTS_HINT.search(head):
            return True
        return bool(
            start.startswith(b"{") and _EMPTY_HINT.search(head) and _COUNTERS_HINT.search(head)
        )

    def parse(self, stream: BinaryIO) -> ParseResult:
        result = ParseResult(format=FORMAT, tool_name="checkov")
        result.findings = primed(_Reader(stream, result, self.paths).findings())
        return result


class _Reader:
    """Walks a checkov report's events and yields findings; see the module docstring."""

    def __init__(self, stream: BinaryIO, result: ParseResult, paths: PathContext) -> None:
        self.src = JsonEvents(stream, FORMAT)
        self.result = result
        self.paths = paths
        self.check_types: set[str] = set()
        self.repo_id = ""

    def findings(self) -> Iterator[NormalizedFinding]:
        src = self.src
        event, _ = src.next()
        if event == "start_map":
            yield from self._report(())
        elif event == "start_array":
            for i, (event, _) in enumerate(src.elements()):
                if event != "start_map":
                    raise src.error(
                        f"a checkov report must be a JSON object, got {event_type_name(event)}",
                        pointer(i),
                    )
                yield from self._report((i,))
        else:
            raise src.error(
                "a checkov report must be a JSON object or an array of them, "
                f"got {event_type_name(event)}"
            )
        src.end()
        # The stream's target: the repo id (--repo-id) and the check types reported.
        named = [self.repo_id, ",".join(sorted(t for t in self.check_types if t))]
        self.result.target = ReportTarget("name", ":".join(n for n in named if n))

    def _report(self, base: tuple[int, ...]) -> Iterator[NormalizedFinding]:
        src = self.src
        check_type = ""
        known = False
        for key in src.members():
            event, value = src.next()
            src.where = pointer(*base, key)
            known = known or key in _REPORT_KEYS
            if key == "check_type":
                check_type = as_str(src.value(event, value))
                self.check_types.add(check_type)
            elif key == "repo_id":
                self.repo_id = self.repo_id or as_str(src.value(event, value))
            elif key == "results":
                if event != "start_map":
                    raise src.error(f"results must be an object, got {event_type_name(event)}")
                yield from self._results(base, check_type)
            elif key == "summary":
                self._version(src.value(event, value))
            elif key == "checkov_version":
                self._version({key: src.value(event, value)})
            else:
                src.skip(event)
        if not known:
            # An object with none of checkov's keys is some other document, not an empty scan.
            raise src.error(
                f"not a checkov report: none of {', '.join(sorted(_REPORT_KEYS))}", pointer(*base)
            )

    def _version(self, summary: Any) -> None:
        version = summary.get("checkov_version") if isinstance(summary, dict) else None
        if isinstance(version, str) and not self.result.tool_version:
            self.result.tool_version = version

    def _results(self, base: tuple[int, ...], check_type: str) -> Iterator[NormalizedFinding]:
        src = self.src
        for key in src.members():
            event, value = src.next()
            where = pointer(*base, "results", key)
            src.where = where
            if key not in _CHECK_LISTS and key != "parsing_errors":
                src.skip(event)
                continue
            if event == "null":
                continue
            if event != "start_array":
                raise src.error(f"{key} must be an array, got {event_type_name(event)}")
            for i, (event, value) in enumerate(src.elements()):
                item_where = f"{where}/{i}"
                src.where = item_where
                item = src.value(event, value)
                if key == "parsing_errors":
                    self._parsing_error(item, item_where)
                    continue
                finding = self._finding(item, item_where, check_type, _CHECK_LISTS[key])
                if finding is not None:
                    yield finding

    def _parsing_error(self, item: Any, where: str) -> None:
        name = cap(as_str(item) or type_name(item), 300)
        self.result.skipped.append(
            ParseIssue(pointer=where, message=f"checkov could not parse {name}")
        )

    def _finding(
        self, check: Any, where: str, check_type: str, skipped: bool
    ) -> NormalizedFinding | None:
        if not isinstance(check, dict):
            raise ParseError(
                FORMAT, f"a check must be a JSON object, got {type_name(check)}", pointer=where
            )
        check_id = check.get("check_id")
        if not isinstance(check_id, str) or not check_id:
            self.result.skipped.append(ParseIssue(pointer=where, message="check has no check_id"))
            return None
        details = check.get("vulnerability_details")
        details = details if isinstance(details, dict) else {}
        vuln_id = as_str(details.get("id"))
        kind = _kind(check_type or as_str(check.get("check_type")), check_id, vuln_id)
        severity, defaulted = _severity(check.get("severity"))
        properties = {"check_type": check_type} if check_type else {}
        if defaulted:
            properties["severity_defaulted"] = "true"
        start, end = _line_range(check.get("file_line_range"))
        path, original = self._path(check, where)
        return NormalizedFinding(
            kind=kind,
            tool="checkov",
            rule_id=check_id,
            title=cap(_title(check, kind) or check_id, MAX_TITLE),
            severity=severity,
            message=cap(
                as_str(check.get("description")) or as_str(check.get("short_description")),
                MAX_TEXT,
            ),
            pointer=where,
            vuln_ids=(vuln_id,) if kind == "sca" else (),
            component=_component(details) if kind == "sca" else None,
            path=path,
            original_path=original,
            start_line=start,
            end_line=end,
            snippet="" if kind == "secret" else _snippet(check.get("code_block")),
            resource=as_str(check.get("resource")),
            cvss=_cvss(details) if kind == "sca" else (),
            fixed_versions=_fixed_versions(details) if kind == "sca" else (),
            suppressed=skipped,
            suppression=_suppression(check) if skipped else "",
            references=_references(check, details),
            properties=properties,
        )

    def _path(self, check: dict[str, Any], where: str) -> tuple[str, str]:
        """(repository-relative path, the path as written when that differs); see the module
        docstring for checkov's leading "/"."""
        key = "repo_file_path" if isinstance(check.get("repo_file_path"), str) else "file_path"
        raw = check.get(key)
        if raw is None:
            return "", ""
        if not isinstance(raw, str):
            raise ParseError(
                FORMAT, f"{key} must be a string, got {type_name(raw)}", pointer=f"{where}/{key}"
            )
        absolute = as_str(check.get("file_abs_path"))
        really_absolute = raw == absolute and is_absolute(raw)
        path = clean_path(
            raw,
            fmt=FORMAT,
            where=f"{where}/{key}",
            paths=self.paths,
            fallback=_scanned_root(check, absolute) if really_absolute else (),
            anchored=not really_absolute,
        )
        return path, original_of(raw, path)


def _scanned_root(check: dict[str, Any], absolute: str) -> tuple[str, ...]:
    """The directory checkov scanned: `file_abs_path` without its `file_path` ("/main.tf",
    relative to that directory); () when the two do not say it."""
    relative = as_str(check.get("file_path")).replace("\\", "/")
    absolute = absolute.replace("\\", "/")
    if len(relative) < 2 or not relative.startswith("/") or not absolute.endswith(relative):
        return ()
    root = absolute[: -len(relative)]
    return (as_root(root),) if root else ()


def _kind(check_type: str, check_id: str, vuln_id: str) -> str:
    if vuln_id:
        return "sca"
    if check_type == "secrets" or check_id.startswith("CKV_SECRET"):
        return "secret"
    return "iac"


def _title(check: dict[str, Any], kind: str) -> str:
    """check_name; for SCA checks (all named "SCA package scan") the "CVE - pkg: version"."""
    name = as_str(check.get("check_name"))
    return (as_str(check.get("short_description")) or name) if kind == "sca" else name


def _cvss(details: dict[str, Any]) -> tuple[Cvss, ...]:
    """The CVSS vector/score checkov copies from its vulnerability data, when present."""
    vector = as_str(details.get("vector"))
    score = details.get("cvss")
    score = float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None
    match = _CVSS_VERSION.match(vector)
    if not match or (score is None and not vector):
        return ()
    return (Cvss(version=match.group(1), vector=vector, score=score, source="checkov"),)


def _severity(value: Any) -> tuple[str, bool]:
    """(severity, defaulted): checkov's own severity when present, else the default."""
    mapped = severity_word(value)
    return (mapped, False) if mapped else (DEFAULT_SEVERITY, True)


def _line_range(value: Any) -> tuple[int | None, int | None]:
    if not isinstance(value, list) or not value:
        return None, None
    start = line_number(value[0])
    end = line_number(value[1]) if len(value) > 1 else None
    if start is None or (end is not None and end < start):
        end = None
    return start, end


def _snippet(code_block: Any) -> str:
    """checkov's code_block is [[line number, text], ...]; keep the text."""
    if not isinstance(code_block, list):
        return ""
    lines = [
        entry[1]
        for entry in code_block
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)
    ]
    return cap("".join(lines), MAX_SNIPPET)


def _suppression(check: dict[str, Any]) -> str:
    outcome = check.get("check_result")
    comment = as_str(outcome.get("suppress_comment")) if isinstance(outcome, dict) else ""
    return cap(f"skipped: {comment.strip()}" if comment.strip() else "skipped", MAX_TITLE)


def _references(check: dict[str, Any], details: dict[str, Any]) -> tuple[str, ...]:
    refs = [as_str(check.get("guideline")), as_str(details.get("link"))]
    return tuple(dict.fromkeys(ref for ref in refs if ref))


def _component(details: dict[str, Any]) -> Component | None:
    name = as_str(details.get("package_name"))
    return Component(name=name, version=as_str(details.get("package_version"))) if name else None


def _fixed_versions(details: dict[str, Any]) -> tuple[str, ...]:
    versions = details.get("fixed_versions")
    if isinstance(versions, list):
        return tuple(as_str(v) for v in versions if as_str(v))
    single = as_str(details.get("fix_version") or details.get("lowest_fixed_version"))
    return (single,) if single and single != "N/A" else ()
