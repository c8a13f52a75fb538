"""Normalised records every parser produces, and the contract a parser module fulfils.

Parsers are pure: bytes in, normalised records out, no database. The ingestion service turns
records into rows; dedup computes identities. Keeping parsers free of Django makes them fast
to test against hostile input and lets a new format land without touching anything else.

Two things every parser gets from this base, so no format can forget them:
- the path resolution context (`PathContext`: the upload's source_root and the application's
  source roots), given to the constructor and read by `_paths.clean_path` through
  `self.paths`;
- text hygiene: each subclass's `parse` is wrapped (`__init_subclass__`) so it reads the
  report through `_text.TextGuard` (U+0000 and unpaired surrogates become U+FFFD before any
  reader sees them) and reports the replacements as one warning in `ParseResult.skipped`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar, TypeVar

from fixops.platform.text import clean_text

from ._text import TextGuard, clean_value

T = TypeVar("T")
KINDS = ("sast", "sca", "iac", "secret", "dast", "container")
SEVERITIES = ("critical", "high", "medium", "low", "info")
# How many containers (JSON arrays and objects, XML elements) may be open at once. Real reports
# stay under 20; hostile nesting costs every reader memory and time per level. The ingestion
# service sets FIXOPS_MAX_INPUT_DEPTH around each parse (`input_limits`); parsers read it when
# they start reading, never at import time.
DEFAULT_MAX_DEPTH = 128
KEPT_ISSUES = 1000  # per kind; see `Issues`
_max_depth: ContextVar[int] = ContextVar("fixops_max_input_depth", default=DEFAULT_MAX_DEPTH)


def max_depth() -> int:
    """The nesting limit in force for the parse running in this context."""
    return _max_depth.get()


@contextmanager
def input_limits(*, max_depth: int) -> Iterator[None]:
    """Parse (and consume the parse's iterators) under this nesting limit."""
    token = _max_depth.set(max(1, max_depth))
    try:
        yield
    finally:
        _max_depth.reset(token)


class ParseError(Exception):
    """The report cannot be imported. Names the format and where it failed.

    `pointer` is a JSON pointer (RFC 6901) into the report for JSON formats, or `line:N`
    for XML and other line-oriented input; empty when the failure is about the whole file.
    """

    def __init__(self, fmt: str, message: str, *, pointer: str = "") -> None:
        self.format = fmt
        self.message = message
        self.pointer = pointer
        where = f" at {pointer}" if pointer else ""
        super().__init__(f"{fmt}: {message}{where}")


class TooDeep(ParseError):
    """The report nests containers deeper than the limit; `pointer` names the deepest place
    the reader tracked (a JSON pointer of the value holding the nesting, or `line:N`)."""

    def __init__(self, fmt: str, limit: int, *, pointer: str = "") -> None:
        super().__init__(fmt, f"nested deeper than {limit} levels", pointer=pointer)
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Cvss:
    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str  # normalised vector string, "" when only a score was given
    score: float | None
    source: str = ""


@dataclass(frozen=True, slots=True)
class Component:
    """An entry of the application's component inventory (from an SBOM or a scanner)."""

    name: str
    version: str = ""
    purl: str = ""  # canonical purl (packageurl-python), "" when none or invalid
    type: str = ""  # library, application, container, os, framework, file, ...
    ref: str = ""  # bom-ref / SPDXID, used to resolve the dependency graph
    cpe: str = ""
    licenses: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()  # refs of direct dependencies
    scope: str = ""  # required / optional / excluded (CycloneDX)


@dataclass(frozen=True, slots=True)
class NormalizedFinding:
    """One result of one tool, normalised. Many of these may collapse into one Finding."""

    kind: str  # one of KINDS
    tool: str  # tool name as reported, lower-cased ("semgrep", "trivy", "codeql")
    rule_id: str  # tool rule / check id / vulnerability id for SCA
    title: str
    severity: str  # one of SEVERITIES
    message: str = ""
    # Where in the report this result came from: JSON pointer or line:N. Used in errors.
    pointer: str = ""
    confidence: str = ""  # high / medium / low when the tool says so
    cwes: tuple[int, ...] = ()
    # Vulnerability ids exactly as reported (CVE-..., GHSA-..., PYSEC-..., OSV ids),
    # first the primary id, then aliases the report itself gives.
    vuln_ids: tuple[str, ...] = ()
    component: Component | None = None
    path: str = ""  # relative POSIX path inside the repository / image, never absolute
    start_line: int | None = None
    end_line: int | None = None
    start_column: int | None = None
    snippet: str = ""  # the matched region's text when the report carries it
    # The tool's own stable identities, keyed "fp:<name>" (SARIF fingerprints), "pfp:<name>"
    # (SARIF partialFingerprints) or "gitleaks" (its Fingerprint field).
    fingerprints: dict[str, str] = field(default_factory=dict)
    resource: str = ""  # IaC resource address (aws_s3_bucket.data) or container image
    secret_hash: str = ""  # sha256 hex of the secret; the secret itself is never kept
    cvss: tuple[Cvss, ...] = ()
    fixed_versions: tuple[str, ...] = ()
    suppressed: bool = False
    suppression: str = ""  # kind/justification of the suppression, when suppressed
    baseline_state: str = ""  # SARIF baselineState (new, unchanged, updated, absent)
    # VEX analysis from the report (CycloneDX analysis.state / justification).
    vex_state: str = ""
    vex_justification: str = ""
    references: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    # The path exactly as the tool wrote it, when normalisation changed it (kept on the
    # occurrence); "" when `path` is what the report said.
    original_path: str = ""


@dataclass(slots=True)
class ParseIssue:
    """Something in the report that was skipped or kept with a warning; reported back to the
    caller, never silently dropped.

    `lost_finding` is True when a result that could have been a finding was skipped (counted
    in `counts.lost`). Ingestion then closes nothing for that scan (a finding the parser could
    not read is not fixed). `suppressed` marks a result the report itself says is no finding
    (a SARIF result of kind pass/notApplicable/informational), counted in `counts.suppressed`.
    Warnings about kept data (an invalid purl or vector, a component without a name, licence
    results that are not security findings) set both False. `reason` is a short stable code
    ("no_rule", "not_a_defect", ...) beside the human `message`.
    """

    pointer: str
    message: str
    lost_finding: bool = True
    suppressed: bool = False
    reason: str = ""


class Issues(list):  # type: ignore[type-arg] - a list of ParseIssue
    """A parser's skipped results and warnings, bounded: the first KEPT_ISSUES of each kind
    (lost, suppressed, warning) are kept, later ones only counted in `overflow`.

    A 14 MB report of empty objects or log lines made millions of issues (~1 GB) in the web
    worker; the scan stores at most 1,000 entries anyway (lost ones first, hence per kind).
    `counts.import_counts` adds `overflow`, so the counts stay exact.
    """

    def __init__(self, issues: Iterable[ParseIssue] = ()) -> None:
        super().__init__()
        self.overflow = {"lost": 0, "suppressed": 0, "warnings": 0}
        self._kept = {"lost": 0, "suppressed": 0, "warnings": 0}
        self.extend(issues)

    def append(self, issue: ParseIssue) -> None:
        kind = issue_kind(issue)
        if self._kept[kind] < KEPT_ISSUES:
            self._kept[kind] += 1
            super().append(issue)
        else:
            self.overflow[kind] += 1

    def extend(self, issues: Iterable[ParseIssue]) -> None:
        for issue in issues:
            self.append(issue)


def issue_kind(issue: ParseIssue) -> str:
    """ "lost", "suppressed" or "warnings": how the counts file an issue."""
    if issue.lost_finding:
        return "lost"
    return "suppressed" if issue.suppressed else "warnings"


@dataclass(frozen=True, slots=True)
class ReportTarget:
    """What the report says was scanned, as written, and what kind of name it is; ingestion
    normalises it into the stream's target (apps/findings/targets.py)."""

    kind: str  # "image", "path", "component", "sarif", "name"
    value: str


@dataclass(slots=True)
class ParseResult:
    """What a parser returns.

    `findings` and `components` are iterators so a 100,000-result report is never held whole
    as Python objects by the parser; the consumer iterates them once, in order. `tool_name`
    and `tool_version` (and `target`, what was scanned) may be filled while iterating (SARIF
    runs), so read them after the iterators are exhausted. `skipped` collects the results that
    made no finding (lost, or suppressed by the report itself) and warnings about kept data, as
    `ParseIssue`s; the ingestion rule and the counts are documented in docs/ingestion.md.
    """

    format: str
    tool_name: str = ""
    tool_version: str = ""
    findings: Iterator[NormalizedFinding] = field(default_factory=lambda: iter(()))
    components: Iterator[Component] = field(default_factory=lambda: iter(()))
    skipped: list[ParseIssue] = field(default_factory=Issues)
    target: ReportTarget | None = None


@dataclass(frozen=True, slots=True)
class PathContext:
    """Where the scanner ran, as the upload and the application say: the upload's
    `source_root` and the application's source roots, absolute directories already in
    `_paths.as_root` form (build one with `_paths.path_context`)."""

    source_root: str = ""
    roots: tuple[str, ...] = ()

    def explicit(self) -> tuple[str, ...]:
        """The roots someone configured: the upload's, then the application's."""
        return ((self.source_root,) if self.source_root else ()) + self.roots


NO_PATHS = PathContext()


class Parser(ABC):
    """Base class of a format parser. Subclasses register themselves by defining `format`.

    `paths` is the resolution context for absolute paths (see `PathContext`).
    """

    format: ClassVar[str]  # registry key, e.g. "sarif", "cyclonedx-json"
    label: ClassVar[str]  # human name for docs and errors
    # Higher wins when several detectors accept the same head (a generic JSON detector
    # must lose to a specific one).
    priority: ClassVar[int] = 0
    # What the detector looks for, for the unknown-format error's candidates: the top-level
    # shape ("object", "array", "object-or-array", "xml", "lines", "text") and, in words,
    # the keys or markers that decide.
    shape: ClassVar[str] = "object"
    expects: ClassVar[str] = ""
    # Members the parser never reads, left out of the report's content digest (parsers/
    # content.py) so that a re-run's new timestamps do not count as new content: the path of
    # an object (keys, "*" for any array element) -> the only member names read there.
    unread: ClassVar[Mapping[tuple[str, ...], frozenset[str]]] = {}
    # False for formats whose imports are never repeated (SBOMs: their components are sighted
    # row by row), so that they pay for no digest (apps/findings/repeat.py).
    repeatable: ClassVar[bool] = True

    @classmethod
    @abstractmethod
    def detect(cls, head: bytes) -> bool:
        """True when the first bytes of a file (up to 64 KiB) look like this format."""

    def __init__(self, *, paths: PathContext = NO_PATHS) -> None:
        self.paths = paths

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parse = cls.__dict__.get("parse")
        if parse is not None and not getattr(parse, "text_guarded", False):
            cls.parse = _text_guarded(parse)  # type: ignore[method-assign]

    @abstractmethod
    def parse(self, stream: BinaryIO) -> ParseResult:
        """Parse a binary stream positioned at the start of the report."""


def _text_guarded(
    parse: Callable[[Parser, BinaryIO], ParseResult],
) -> Callable[[Parser, BinaryIO], ParseResult]:
    """`parse` reading through a TextGuard (once, however deep the subclassing)."""

    @functools.wraps(parse)
    def guarded(self: Parser, stream: BinaryIO) -> ParseResult:
        if isinstance(stream, TextGuard):
            return parse(self, stream)
        guard = TextGuard(stream)
        return _reporting(parse(self, guard), guard)  # type: ignore[arg-type]

    guarded.text_guarded = True  # type: ignore[attr-defined]
    return guarded


def _reporting(result: ParseResult, guard: TextGuard) -> ParseResult:
    """`result` whose iterators clean what the guard could not (input that is neither JSON
    nor XML) and, once exhausted, report all replacements as one warning in `skipped`."""
    warning = ParseIssue(pointer="", message="", lost_finding=False)
    found = [0]  # replacements made in the output

    def report() -> None:
        if guard.mode == "text":
            for issue in result.skipped:
                issue.message, count = clean_text(issue.message)
                found[0] += count
            result.tool_name, count_name = clean_text(result.tool_name)
            result.tool_version, count_version = clean_text(result.tool_version)
            found[0] += count_name + count_version
        total = guard.replaced + found[0]
        if total:
            plural = "s" if total != 1 else ""
            warning.message = (
                f"{total} invalid character{plural} (U+0000 or an unpaired surrogate) "
                "replaced by U+FFFD"
            )
            if not any(issue is warning for issue in result.skipped):
                result.skipped.append(warning)

    def watch(items: Iterator[T]) -> Iterator[T]:
        for item in items:
            if guard.mode != "text":
                yield item
                continue
            cleaned, count = clean_value(item)
            found[0] += count
            yield cleaned
        report()

    result.findings = watch(result.findings)
    result.components = watch(result.components)
    return result
