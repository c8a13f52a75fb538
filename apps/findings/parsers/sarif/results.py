"""Pass 2 over a SARIF log: each result, built by ijson's C builder, becomes a finding.

- message: `message.text`, else `markdown`, else `message.id` looked up in the rule's
  `messageStrings` with `{n}` replaced by `arguments[n]`.
- identity: `fingerprints` and `partialFingerprints` are kept with their keys prefixed "fp:"
  and "pfp:". `baselineState` is kept.
- suppressions: the first suppression whose `status` is absent or "accepted" marks the finding
  suppressed, with `suppression` = "<kind>: <justification>"; the finding is kept.
- secrets: for kind "secret" the snippet (gitleaks puts the secret itself there) is hashed into
  `secret_hash` and cleared, and removed from the message, title and fingerprints.

A result missing only optional data is imported; one that cannot be understood (no rule id at
all, no message) is appended to `ParseResult.skipped`. This is the per-result hot loop: the
optional parts most results lack are read only when present, and findings are built with
`_common.slots_builder`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from .._common import (
    MAX_SNIPPET,
    MAX_TEXT,
    MAX_TITLE,
    as_str,
    cap,
    redact,
    sha256_hex,
    slots_builder,
    type_name,
)
from ..base import NormalizedFinding, ParseError, ParseIssue, ParseResult, PathContext
from .fields import FORMAT, first_line, get_field
from .locations import location
from .rules import rule_facts
from .run import Rule, RuleFacts, Run
from .severity import NOT_DEFECTS, RESULT_KINDS, confidence, result_severity
from .taxonomy import NOT_SCA, cwes, sca_details, taxa_cwes, with_result_tags

BASELINE_STATES = frozenset({"new", "unchanged", "updated", "absent"})

_PLACEHOLDER = re.compile(r"\{(\d+)\}")
_NO_PROPERTIES: dict[str, Any] = {}
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
    "original_path",
)
_new_finding = slots_builder(NormalizedFinding, _FINDING_FIELDS)


class ResultConverter:
    """Turns the results of each run into findings; `paths` is the parser's path context."""

    def __init__(self, result: ParseResult, paths: PathContext) -> None:
        self.result = result
        self.paths = paths

    def run_findings(self, run: Run, results: Iterator[Any]) -> Iterator[NormalizedFinding]:
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

    def _convert(self, raw: Any, run: Run, where: str) -> NormalizedFinding | None:
        """One result -> a finding; None for non-defects and for results recorded as skipped."""
        if not isinstance(raw, dict):
            raise ParseError(
                FORMAT, f"a result must be a JSON object, got {type_name(raw)}", pointer=where
            )
        sarif_kind = raw.get("kind")
        if sarif_kind is None:
            sarif_kind = "fail"
        else:
            sarif_kind = get_field(raw, "kind", str, where) or "fail"
            if sarif_kind in NOT_DEFECTS:
                return None
            if sarif_kind not in RESULT_KINDS:
                sarif_kind = "fail"
        facts = rule_facts(raw, run, where)
        if facts is None:
            return self._skip(where, "result has no ruleId and no resolvable rule")
        message = _message(raw, facts.rule, where)
        if not message:
            return self._skip(where, "result has no message text")
        return self._build(raw, run, where, facts, message=message, sarif_kind=sarif_kind)

    def _skip(self, where: str, message: str) -> None:
        self.result.skipped.append(ParseIssue(pointer=where, message=message))

    def _build(
        self,
        raw: dict[str, Any],
        run: Run,
        where: str,
        facts: RuleFacts,
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
        kind, found_cwes = facts.kind, rule.cwes
        if props:
            kind, found_cwes = with_result_tags(props, run.tool, facts, kind, found_cwes)
        if raw.get("taxa") is not None:
            found_cwes = tuple(dict.fromkeys(found_cwes + cwes(taxa_cwes(raw["taxa"]))))
        path, start, end, column, snippet, uri, original = location(
            raw, run, where, notes, self.paths
        )
        fingerprints = (
            _fingerprints(raw, where)
            if "fingerprints" in raw or "partialFingerprints" in raw
            else {}
        )
        secret_hash = ""
        title = rule.title or cap(first_line(message), MAX_TITLE)
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
            sca_details(facts.rule_id, message) if kind == "sca" else NOT_SCA
        )
        # Positional, in _FINDING_FIELDS order (see `slots_builder` for why not keywords).
        return _new_finding(
            kind,
            run.tool,
            facts.rule_id,
            title,
            result_severity(raw, props, facts, sarif_kind, kind),
            cap(message, MAX_TEXT),
            where,
            (confidence(props) if props else "") or rule.confidence,
            found_cwes,
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
            original,
        )


def _message(raw: dict[str, Any], rule: Rule | None, where: str) -> str:
    message = raw.get("message")
    if message.__class__ is not dict:
        message = get_field(raw, "message", dict, where)
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


def _fingerprints(raw: dict[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, prefix in (("fingerprints", "fp:"), ("partialFingerprints", "pfp:")):
        for name, value in (get_field(raw, key, dict, where) or {}).items():
            text = as_str(value)
            if text:
                out[prefix + name] = cap(text, 1024)
    return out


def _suppression(raw: dict[str, Any], where: str) -> tuple[bool, str]:
    suppressions = get_field(raw, "suppressions", list, where) or []
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
