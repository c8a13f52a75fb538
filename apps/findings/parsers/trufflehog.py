"""trufflehog's JSON output: v3 `--json` (and v2 / `--json-legacy`), one JSON object per line.

v3 prints each result with `fmt.Println(json.Marshal(...))`. Keys: `SourceMetadata`,
`SourceID`, `SourceType`, `SourceName`, `DetectorType` (an integer enum), `DetectorName`
(v3.5+), `DecoderName`, `Verified`, `VerificationError`, `Raw` (base64 of bytes before v3.14,
a string after), `RawV2`, `Redacted`, `ExtraData`, `StructuredData`. The location is in
`SourceMetadata.Data.<Source>` (`Git`, `Github`, `Gitlab`, `Filesystem`, `Docker`, `S3`...):
lower-case `file`, `line` (absent when 0), `commit`, `email`, `repository`, `timestamp`,
`link`, `image`.

Mapping (kind "secret", tool "trufflehog"):
- rule_id = DetectorName, else the DetectorType number as text (v3.0-v3.4 print no name, so
  their rule ids differ from later versions'); title = DetectorDescription, else
  "<DetectorName> secret".
- severity: "critical" when `Verified` is true (the credential was live when scanned), else
  "high" (trufflehog has no severity); properties["verified"] says which, and
  `VerificationError` is kept as properties["verification_error"].
- path = the source's `file` (the shared path rule), start_line = `line`; resource = the
  Docker `image`, else the `repository`; references = `link`.
- secret_hash = sha256 of RawV2, else Raw; Raw, RawV2 and Redacted are never kept and are
  removed from every kept string.
- properties: source (the Data key), source_name, decoder, commit, email, timestamp.

The legacy shape (trufflehog 2.x, `--json-legacy`) has `branch`, `commit` (the commit
message), `commitHash`, `date`, `diff`, `path`, `printDiff`, `reason` (the rule) and
`stringsFound` (the secrets): one finding per line, rule_id = reason, secret_hash = sha256 of
the joined `stringsFound`, no line number.

Before v3.14 `Raw` is base64 (a Go []byte), so the secret hash of the same credential differs
across that release: a report of 3.14 or later does not match older findings by secret.

Lines: blank lines are ignored. A line that is not a JSON object (a log line when stderr was
captured too) or an object that is neither shape (trufflehog's JSON log records) is a warning,
not a lost result. A line that starts like an object but is not valid JSON is a ParseError at
`line:N` (a truncated or corrupted report); so is a file with no JSON object line at all.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._common import (
    MAX_TEXT,
    MAX_TITLE,
    as_str,
    cap,
    clean_path,
    json_head,
    line_number,
    original_of,
    primed,
    redact,
    sha256_hex,
)
from ._jsonstream import check_depth
from .base import NormalizedFinding, ParseError, ParseIssue, Parser, ParseResult, TooDeep

FORMAT = "trufflehog"
TOOL = "trufflehog"
_V3_HINT = re.compile(rb'"SourceMetadata"\s*:')
_V3_KEYS = tuple(
    re.compile(rb'"' + key + rb'"\s*:')
    for key in (b"DetectorType", b"DetectorName", b"Verified", b"Raw", b"SourceType")
)
_LEGACY_KEYS = tuple(
    re.compile(rb'"' + key + rb'"\s*:')
    for key in (b"stringsFound", b"commitHash", b"printDiff", b"reason", b"branch")
)
_MAX_LINE_BYTES = 64 * 1024 * 1024
# a result line after log lines (stderr captured with 2>&1): v3 prints SourceMetadata first
_RESULT_LINE = re.compile(rb'^\{\s*"SourceMetadata"\s*:', re.MULTILINE)


class TrufflehogParser(Parser):
    """trufflehog `--json` (JSON lines); absolute paths resolve by `self.paths`."""

    format = FORMAT
    label = "trufflehog JSON lines (v3, v2/--json-legacy)"
    priority = 10
    shape = "lines"
    expects = "`SourceMetadata` with `DetectorType` (v3) or `stringsFound`, `reason` (v2)"

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """An object on the first line with trufflehog v3's or v2's keys, or a line starting
        with v3's first key after log lines."""
        if not json_head(head).startswith(b"{") and not _RESULT_LINE.search(head):
            return False
        if _V3_HINT.search(head):
            return sum(1 for hint in _V3_KEYS if hint.search(head)) >= 2
        return sum(1 for hint in _LEGACY_KEYS if hint.search(head)) >= 3

    def parse(self, stream: BinaryIO) -> ParseResult:
        result = ParseResult(format=FORMAT, tool_name=TOOL)
        result.findings = primed(self._findings(stream, result))
        return result

    def _findings(self, stream: BinaryIO, result: ParseResult) -> Iterator[NormalizedFinding]:
        lines = objects = 0
        for number, raw in enumerate(stream, start=1):
            where = f"line:{number}"
            if len(raw) > _MAX_LINE_BYTES:
                raise ParseError(FORMAT, "line longer than 64 MiB", pointer=where)
            try:
                line = raw.decode("utf-8").lstrip("\ufeff").strip()
            except UnicodeDecodeError as exc:
                raise ParseError(FORMAT, f"not UTF-8: {exc.reason}", pointer=where) from None
            if not line:
                continue
            lines += 1
            if not line.startswith("{"):
                result.skipped.append(
                    ParseIssue(where, "not a JSON object (log output?); ignored", False)
                )
                continue
            try:
                # json.loads recurses per level: the depth limit first, on the line's bytes
                check_depth(io.BytesIO(line.encode("utf-8")), FORMAT)
            except TooDeep as exc:
                raise TooDeep(FORMAT, exc.limit, pointer=where) from None
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                raise ParseError(FORMAT, "invalid or truncated JSON line", pointer=where) from None
            if not isinstance(item, dict):
                raise ParseError(FORMAT, "a line must hold a JSON object", pointer=where)
            objects += 1
            finding = self._finding(item, where, result)
            if finding is not None:
                yield finding
        if lines and not objects:
            # Log lines around results are trufflehog's; a file of nothing else is not its output.
            raise ParseError(FORMAT, "no line holds a JSON object: not trufflehog output")

    def _finding(
        self, item: dict[str, Any], where: str, result: ParseResult
    ) -> NormalizedFinding | None:
        if isinstance(item.get("SourceMetadata"), dict) or "DetectorType" in item:
            return self._v3(item, where, result)
        if "stringsFound" in item or "reason" in item:
            return self._legacy(item, where, result)
        result.skipped.append(
            ParseIssue(where, "object without SourceMetadata (a log record?); ignored", False)
        )
        return None

    def _v3(
        self, item: dict[str, Any], where: str, result: ParseResult
    ) -> NormalizedFinding | None:
        name = as_str(item.get("DetectorName"))
        detector_type = item.get("DetectorType")
        rule_id = name or (as_str(detector_type) if not isinstance(detector_type, bool) else "")
        if not rule_id:
            result.skipped.append(ParseIssue(where, "result has no DetectorName or DetectorType"))
            return None
        secret = as_str(item.get("RawV2")) or as_str(item.get("Raw"))
        hidden = _hidden(secret, as_str(item.get("Raw")), as_str(item.get("Redacted")))
        source, data = _source(item.get("SourceMetadata"))
        verified = item.get("Verified") is True
        title = as_str(item.get("DetectorDescription")) or f"{name or rule_id} secret"
        path, original = self._path(data.get("file"), f"{where}:file")
        link = redact(as_str(data.get("link")), hidden)
        properties = {
            "verified": "true" if verified else "false",
            "source": source,
            "source_name": as_str(item.get("SourceName")),
            "decoder": as_str(item.get("DecoderName")),
            "verification_error": as_str(item.get("VerificationError")),
            "commit": as_str(data.get("commit")),
            "email": as_str(data.get("email")),
            "timestamp": as_str(data.get("timestamp")),
        }
        return NormalizedFinding(
            kind="secret",
            tool=TOOL,
            rule_id=cap(rule_id, MAX_TITLE),
            title=cap(redact(title, hidden), MAX_TITLE),
            severity="critical" if verified else "high",
            pointer=where,
            path=path,
            original_path=original,
            start_line=line_number(data.get("line")),
            resource=cap(redact(_resource(data), hidden), MAX_TITLE),
            secret_hash=sha256_hex(secret) if secret else "",
            references=(link,) if link else (),
            properties={k: cap(redact(v, hidden), MAX_TEXT) for k, v in properties.items() if v},
        )

    def _legacy(
        self, item: dict[str, Any], where: str, result: ParseResult
    ) -> NormalizedFinding | None:
        reason = as_str(item.get("reason"))
        if not reason:
            result.skipped.append(ParseIssue(where, "result has no reason (rule)"))
            return None
        found = item.get("stringsFound")
        strings = [as_str(s) for s in found if as_str(s)] if isinstance(found, list) else []
        hidden = _hidden(*strings)
        properties = {
            "commit": as_str(item.get("commitHash")),
            "branch": as_str(item.get("branch")),
            "date": as_str(item.get("date")),
        }
        path, original = self._path(item.get("path"), f"{where}:path")
        return NormalizedFinding(
            kind="secret",
            tool=TOOL,
            rule_id=cap(reason, MAX_TITLE),
            title=cap(reason, MAX_TITLE),
            severity="high",
            pointer=where,
            path=path,
            original_path=original,
            secret_hash=sha256_hex("\n".join(strings)) if strings else "",
            properties={k: cap(redact(v, hidden), MAX_TEXT) for k, v in properties.items() if v},
        )

    def _path(self, raw: Any, where: str) -> tuple[str, str]:
        """(path, the path as written when normalisation changed it)."""
        if not isinstance(raw, str) or not raw:
            return "", ""
        path = clean_path(raw, fmt=FORMAT, where=where, paths=self.paths)
        return path, original_of(raw, path)


def _source(metadata: Any) -> tuple[str, dict[str, Any]]:
    """(source kind, its fields) from SourceMetadata.Data, whose one key names the source."""
    data = metadata.get("Data") if isinstance(metadata, dict) else None
    if not isinstance(data, dict):
        return "", {}
    for kind, fields in data.items():
        if isinstance(fields, dict):
            return str(kind), fields
    return "", {}


def _resource(data: dict[str, Any]) -> str:
    return as_str(data.get("image")) or as_str(data.get("repository"))


def _hidden(*secrets: str) -> list[str]:
    """Secrets to remove from kept text, longest first so a prefix never masks the rest."""
    return sorted({s for s in secrets if s}, key=len, reverse=True)
