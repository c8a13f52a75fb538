"""detect-secrets baseline JSON (`detect-secrets scan > .secrets.baseline`, 1.x).

The report is `{"version", "plugins_used", "filters_used", "results": {"<file>": [{"type",
"filename", "hashed_secret", "is_verified", "line_number", "is_secret"?}]}, "generated_at"}`.
detect-secrets never writes the secret: `hashed_secret` is its SHA-1.

Mapping (kind "secret", tool "detect-secrets", version from `version`):
- rule_id = title = `type` (the plugin's secret type: "AWS Access Key", "Secret Keyword",
  "Base64 High Entropy String"...), severity "high" (detect-secrets has no severity).
- path = `filename`, else the results key (the shared path rule); start_line = `line_number`.
- secret_hash = `hashed_secret` (a SHA-1, not the SHA-256 other parsers compute: it identifies
  the secret within this tool's stream, which is all the dedup key needs).
- `is_secret: false` (a secret audited as a false positive with `detect-secrets audit`) is
  kept as suppressed ("audited-false-positive"); `is_verified` goes to properties["verified"].

Errors: invalid JSON, a top level that is not an object, `results` that is not an object of
lists: ParseError with the JSON pointer. An entry that is not an object or has no `type` is a
lost result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._common import (
    MAX_TITLE,
    as_str,
    cap,
    clean_path,
    json_head,
    line_number,
    original_of,
    primed,
)
from ._jsonstream import Rewindable, pointer, walk
from .base import NormalizedFinding, ParseError, ParseIssue, Parser, ParseResult

FORMAT = "detect-secrets"
TOOL = "detect-secrets"
_RESULTS = re.compile(rb'"results"\s*:\s*\{')
_KEYS = tuple(
    re.compile(rb'"' + key + rb'"\s*:')
    for key in (b"plugins_used", b"filters_used", b"hashed_secret", b"generated_at")
)


class DetectSecretsParser(Parser):
    """detect-secrets baselines; absolute paths resolve by `self.paths` (parsers/_paths.py)."""

    format = FORMAT
    label = "detect-secrets baseline JSON"
    priority = 10
    expects = "`results` with `plugins_used`/`hashed_secret` (a detect-secrets baseline)"

    @classmethod
    def detect(cls, head: bytes) -> bool:
        if not json_head(head).startswith(b"{") or not _RESULTS.search(head):
            return False
        return sum(1 for hint in _KEYS if hint.search(head)) >= 2

    def parse(self, stream: BinaryIO) -> ParseResult:
        doc = Rewindable(stream)
        version = ""
        for _prefix, _where, value in walk(doc.rewind(), FORMAT, ("version",)):
            version = as_str(value)
        result = ParseResult(format=FORMAT, tool_name=TOOL, tool_version=version)
        result.findings = primed(self._findings(doc, result))
        return result

    def _findings(self, doc: Rewindable, result: ParseResult) -> Iterator[NormalizedFinding]:
        seen = False
        for _prefix, where, files in walk(doc.rewind(), FORMAT, ("results",)):
            seen = True
            if not isinstance(files, dict):
                raise ParseError(FORMAT, "`results` must be an object", pointer=where)
            for name, entries in files.items():
                at = pointer("results", name)
                if not isinstance(entries, list):
                    raise ParseError(FORMAT, "a file's results must be an array", pointer=at)
                for index, entry in enumerate(entries):
                    finding = self._finding(name, entry, f"{at}/{index}", result)
                    if finding is not None:
                        yield finding
        if not seen:
            # Every baseline has `results`, even an empty one: without it this is another tool's.
            raise ParseError(FORMAT, "no `results`: not a detect-secrets baseline")

    def _finding(
        self, name: str, entry: Any, where: str, result: ParseResult
    ) -> NormalizedFinding | None:
        if not isinstance(entry, dict) or not as_str(entry.get("type")):
            result.skipped.append(ParseIssue(where, "result is not an object with a type"))
            return None
        secret_type = cap(as_str(entry.get("type")), MAX_TITLE)
        filename = as_str(entry.get("filename")) or name
        false_positive = entry.get("is_secret") is False
        path = clean_path(filename, fmt=FORMAT, where=f"{where}/filename", paths=self.paths)
        return NormalizedFinding(
            kind="secret",
            tool=TOOL,
            rule_id=secret_type,
            title=secret_type,
            severity="high",
            pointer=where,
            path=path,
            original_path=original_of(filename, path) if filename else "",
            start_line=line_number(entry.get("line_number")),
            secret_hash=as_str(entry.get("hashed_secret")).lower(),
            suppressed=false_positive,
            suppression="audited-false-positive" if false_positive else "",
            properties={"verified": "true" if entry.get("is_verified") is True else "false"},
        )
