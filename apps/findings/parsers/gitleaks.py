"""gitleaks' native JSON report (`gitleaks detect -f json`, v6 to v8): an array of findings.

v8 elements have RuleID, Description, StartLine, EndLine, StartColumn, EndColumn, Match,
Secret, File, SymlinkFile, Commit, Entropy, Author, Email, Date, Message, Tags, Fingerprint
(and Link in newer versions). Mapping:

- kind "secret", tool "gitleaks", severity "high" (gitleaks has no severity; every leaked
  credential is treated alike), rule_id = RuleID, title = Description (else RuleID),
  path = File (the `_paths.clean_path` rule: relative POSIX; an absolute path, which gitleaks
  writes when run on a mounted directory such as `/path/src/app.env`, goes through the
  resolution order; the File as written is kept as original_path), lines/column from
  StartLine/EndLine/StartColumn, fingerprints = {"gitleaks": Fingerprint}, references = Link.
- The secret is never kept: `secret_hash` = sha256 hex of Secret, the snippet stays empty,
  the commit message is dropped, and Match and Secret are removed from every kept string
  (title, message, properties). A Secret that gitleaks already redacted (`--redact`:
  "REDACTED" or a prefix ending in "...") gives no hash, since it no longer identifies it.
- properties: commit, author, email, date, entropy, tags (comma-separated).

v6 and v7 (`gitleaks --report=... --format=json`) write lower-camel keys instead: `rule` (the
rule's description: those versions have no rule id), `line` (the matched line), `offender`
(the secret), `offenderEntropy` (v7.5+), `file`, `lineNumber`, `commit`, `commitMessage`,
`author`, `email`, `date`, `repo`, `repoURL`/`leakURL` (v7), `tags` (a comma-joined string)
and `operation` (v6). Each element is read by its own key style, so the mapping is the same:
rule_id = title = `rule`, secret = `offender` (hidden with `line` everywhere), references =
`leakURL`, properties also carry `repo`.

Errors: invalid or truncated JSON (the error never quotes input, which may be a secret), a
top level that is not an array, an element that is not an object: ParseError with the JSON
pointer. An element without RuleID is skipped and reported. An empty array is a valid report
with no findings; detection does not claim a bare "[]" (it carries no gitleaks keys), so such
a file needs the explicit format.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from ._common import (
    MAX_TEXT,
    MAX_TITLE,
    JsonReader,
    as_str,
    cap,
    clean_path,
    iter_items,
    json_head,
    line_number,
    original_of,
    pointer,
    primed,
    redact,
    rewindable,
    sha256_hex,
    type_name,
)
from ._jsonstream import check_depth
from .base import NormalizedFinding, ParseError, ParseIssue, Parser, ParseResult

FORMAT = "gitleaks"
SEVERITY = "high"
_RULE_HINT = re.compile(rb'"RuleID"\s*:')
_KEYS = (b"Description", b"StartLine", b"EndLine", b"StartColumn", b"Match", b"Secret", b"File")
_KEY_HINTS = tuple(re.compile(rb'"' + key + rb'"\s*:') for key in _KEYS)
_ARRAY_OF_OBJECTS = re.compile(rb"^\[\s*\{")
# v6/v7: "offender" is unique to gitleaks; one more of its keys confirms it
_OFFENDER_HINT = re.compile(rb'"offender"\s*:')
_LEGACY_HINTS = tuple(
    re.compile(rb'"' + key + rb'"\s*:')
    for key in (b"rule", b"lineNumber", b"line", b"commit", b"file", b"leakURL")
)
_END = object()
_REDACTION_MARKERS = frozenset({"REDACTED"})  # what `gitleaks --redact` writes
_TOP_LEVEL = {b"{": "an object", b'"': "a string", b"t": "a boolean", b"f": "a boolean"}
_TOP_LEVEL |= {b"n": "null", b"": "empty input", b"-": "a number"}
_TOP_LEVEL |= {str(d).encode(): "a number" for d in range(10)}
_PROPERTIES = {"Commit": "commit", "Author": "author", "Email": "email", "Date": "date"}
_PROPERTIES |= {"Repo": "repo"}


class GitleaksParser(Parser):
    """gitleaks `-f json` (absolute paths resolve through `self.paths`)."""

    format = FORMAT
    label = "gitleaks JSON"
    shape = "array"
    expects = "gitleaks keys (v8 `RuleID`, `StartLine`...; v6/v7 `offender`, `rule`...)"
    priority = 10

    @classmethod
    def detect(cls, head: bytes) -> bool:
        """An array of objects with "RuleID" and two more of gitleaks' capitalised keys (v8),
        or with "offender" and two more of its lower-camel keys (v6/v7)."""
        if not _ARRAY_OF_OBJECTS.match(json_head(head)):
            return False
        if _RULE_HINT.search(head):
            return sum(1 for hint in _KEY_HINTS if hint.search(head)) >= 2
        if _OFFENDER_HINT.search(head):
            return sum(1 for hint in _LEGACY_HINTS if hint.search(head)) >= 2
        return False

    def parse(self, stream: BinaryIO) -> ParseResult:
        result = ParseResult(format=FORMAT, tool_name="gitleaks")
        result.findings = primed(self._findings(stream, result))
        return result

    def _findings(self, stream: BinaryIO, result: ParseResult) -> Iterator[NormalizedFinding]:
        """Each array element is built in C; the index gives truncation errors their pointer."""
        source, start = rewindable(stream)
        try:
            first = JsonReader(source).first_byte()
            if first != b"[":
                raise ParseError(
                    FORMAT,
                    "a gitleaks report must be a JSON array of findings, got "
                    + _TOP_LEVEL.get(first, "something that is not JSON"),
                )
            # ijson's `items` builds prefixes that grow with the square of the nesting depth,
            # so the document is read once under the depth limit first
            source.seek(start)
            check_depth(JsonReader(source), FORMAT)
            source.seek(start)
            yield from self._items(JsonReader(source), result)
        finally:
            if source is not stream:
                source.close()

    def _items(self, reader: JsonReader, result: ParseResult) -> Iterator[NormalizedFinding]:
        index = 0
        items = iter_items(reader, "item", FORMAT)
        while True:
            try:
                item = next(items, _END)
            except ParseError as exc:
                raise ParseError(FORMAT, exc.message, pointer=pointer(index)) from None
            if item is _END:
                return
            finding = self._finding(item, pointer(index), result)
            if finding is not None:
                yield finding
            index += 1

    def _finding(self, item: Any, where: str, result: ParseResult) -> NormalizedFinding | None:
        if not isinstance(item, dict):
            raise ParseError(
                FORMAT, f"a finding must be a JSON object, got {type_name(item)}", pointer=where
            )
        if "RuleID" not in item and "offender" in item:
            item = _from_legacy(item)
        rule_id = as_str(item.get("RuleID"))
        if not rule_id:
            result.skipped.append(ParseIssue(pointer=where, message="finding has no RuleID"))
            return None
        secret = as_str(item.get("Secret"))
        hidden = sorted({secret, as_str(item.get("Match"))}, key=len, reverse=True)
        description = redact(as_str(item.get("Description")), hidden)
        fingerprint = redact(as_str(item.get("Fingerprint")), hidden)
        link = redact(as_str(item.get("Link")), hidden)
        path, original = self._path(item, where)
        return NormalizedFinding(
            kind="secret",
            tool="gitleaks",
            rule_id=rule_id,
            title=cap(description or rule_id, MAX_TITLE),
            severity=SEVERITY,
            message=cap(description, MAX_TEXT),
            pointer=where,
            path=path,
            original_path=original,
            start_line=line_number(item.get("StartLine")),
            end_line=_end_line(item),
            start_column=line_number(item.get("StartColumn")),
            fingerprints={"gitleaks": fingerprint} if fingerprint else {},
            secret_hash=sha256_hex(secret) if _usable_secret(secret) else "",
            references=(link,) if link else (),
            properties=_properties(item, hidden),
        )

    def _path(self, item: dict[str, Any], where: str) -> tuple[str, str]:
        """(path, the File as written when normalisation changed it)."""
        raw = item.get("File")
        if raw is None or raw == "":
            return "", ""
        if not isinstance(raw, str):
            raise ParseError(
                FORMAT, f"File must be a string, got {type_name(raw)}", pointer=f"{where}/File"
            )
        path = clean_path(raw, fmt=FORMAT, where=f"{where}/File", paths=self.paths)
        return path, original_of(raw, path)


# v6/v7 key -> the v8 key it means
_LEGACY_KEYS = {
    "rule": "RuleID",
    "offender": "Secret",
    "line": "Match",
    "file": "File",
    "lineNumber": "StartLine",
    "commit": "Commit",
    "author": "Author",
    "email": "Email",
    "date": "Date",
    "offenderEntropy": "Entropy",
    "leakURL": "Link",
    "repo": "Repo",
}


def _from_legacy(item: dict[str, Any]) -> dict[str, Any]:
    """A v6/v7 leak in v8 terms: the rule description doubles as id and title, tags become a
    list, an offenderEntropy of -1 ("not checked") is dropped."""
    out = {new: item[old] for old, new in _LEGACY_KEYS.items() if old in item}
    out["Description"] = out.get("RuleID")
    tags = item.get("tags")
    if isinstance(tags, str):
        out["Tags"] = [tag.strip() for tag in tags.split(",") if tag.strip()]
    if out.get("Entropy") == -1:
        del out["Entropy"]
    return out


def _usable_secret(secret: str) -> bool:
    """False for empty secrets and for values gitleaks itself redacted."""
    return bool(secret) and secret not in _REDACTION_MARKERS and not secret.endswith("...")


def _end_line(item: dict[str, Any]) -> int | None:
    start, end = line_number(item.get("StartLine")), line_number(item.get("EndLine"))
    return end if start is not None and end is not None and end >= start else None


def _properties(item: dict[str, Any], hidden: list[str]) -> dict[str, str]:
    properties = {
        name: redact(as_str(item.get(key)), hidden)
        for key, name in _PROPERTIES.items()
        if as_str(item.get(key))
    }
    entropy = item.get("Entropy")
    if isinstance(entropy, int | float) and not isinstance(entropy, bool):
        properties["entropy"] = f"{entropy:.4g}"
    tags = item.get("Tags")
    if isinstance(tags, list) and tags:
        properties["tags"] = redact(",".join(as_str(t) for t in tags if as_str(t)), hidden)
    return properties
