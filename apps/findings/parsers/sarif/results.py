"""Pass 2 over a SARIF log: each result, built by ijson's C builder, becomes a finding.

- message: `message.text`, else `markdown`, else `message.id` looked up in the rule's
  `messageStrings` with `{n}` replaced by `arguments[n]`; a result without one takes its
  rule's "default" message string, else its title.
- rule: module `rules`; a result naming no rule id gets one from module `identity` (its
  properties, the rule its message names, its message template), with one warning per run
  and source saying how many results took it.
- identity: `fingerprints` and `partialFingerprints` are kept with their keys prefixed "fp:"
  and "pfp:". `baselineState` is kept.
- suppressions (§3.27.23, §3.35): a result is suppressed when it has at least one
  suppression and none of them has status "underReview" or "rejected" (the reading of the
  SARIF editors' viewer guidance, microsoft/sarif-tutorials "Determining suppression
  status"); an absent status counts as accepted, an unknown one does not count. The legacy
  `suppressionStates` (["suppressedInSource"|"suppressedExternally"], SARIF 2.0 and the
  converters that kept it) suppress as well. The finding is kept, with `suppression` =
  "<kind>: <justification>".
- result kinds "pass", "notApplicable" and "informational" are no findings: each is listed in
  `ParseResult.skipped` as suppressed (not lost), with its pointer.
- secrets: for kind "secret" the snippet (gitleaks puts the secret itself there, v7 the whole
  line) and gitleaks v6/v7's `properties.offender` are hashed into `secret_hash` (the
  snippet) and removed from the message, title and fingerprints.

A result missing only optional data is imported; one that names no rule in any way and has no
message is appended to `ParseResult.skipped` as lost. This is the per-result hot loop: the
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
from .identity import SOURCES, TEMPLATE_FINGERPRINT, derive
from .locations import location
from .rules import rule_facts
from .run import Rule, RuleFacts, Run
from .severity import NOT_DEFECTS, RESULT_KINDS, confidence, result_severity
from .taxonomy import NOT_SCA, cwes, sca_details, taxa_cwes, with_result_tags

BASELINE_STATES = frozenset({"new", "unchanged", "updated", "absent"})
_NOT_SUPPRESSED = frozenset({"underReview", "rejected"})
_NOT_SUPPRESSED_KINDS = frozenset({"underReview", "suppressionRejected"})
_LEGACY_STATES = frozenset({"suppressedInSource", "suppressedExternally"})

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
        self._report_derived(run)

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
                return self._not_a_finding(where, sarif_kind)
            if sarif_kind not in RESULT_KINDS:
                sarif_kind = "fail"
        facts = rule_facts(raw, run, where)
        message = _message(raw, facts.rule if facts else None, where)
        template = ""
        if facts is None:
            derived = derive(raw, run, message, _offender(raw))
            if derived is None:
                return self._lose(where)
            facts, source, template = derived
            self._derived(run, source, where)
        if not message:
            rule = facts.effective
            message = rule.message_strings.get("default") or rule.title or facts.rule_id
        return self._build(
            raw, run, where, facts, message=message, sarif_kind=sarif_kind, template=template
        )

    def _lose(self, where: str) -> None:
        self.result.skipped.append(
            ParseIssue(
                where,
                "result names no rule (no ruleId, rule, ruleIndex, rule-naming property or "
                "message) and cannot be identified",
                reason="no_rule",
            )
        )

    def _not_a_finding(self, where: str, sarif_kind: str) -> None:
        self.result.skipped.append(
            ParseIssue(
                where,
                f'result of kind "{sarif_kind}" is no finding',
                lost_finding=False,
                suppressed=True,
                reason="not_a_defect",
            )
        )

    def _derived(self, run: Run, source: str, where: str) -> None:
        count, first = run.derived_counts.get(source, (0, where))
        run.derived_counts[source] = (count + 1, first)

    def _report_derived(self, run: Run) -> None:
        """One warning per run and identity source: how many results had no rule id."""
        for source, (count, first) in run.derived_counts.items():
            self.result.skipped.append(
                ParseIssue(
                    first,
                    f"{count} result(s) without a ruleId: rule identity taken from "
                    f"{SOURCES[source]} (first at {first})",
                    lost_finding=False,
                    reason="rule_derived",
                )
            )

    def _build(
        self,
        raw: dict[str, Any],
        run: Run,
        where: str,
        facts: RuleFacts,
        *,
        message: str,
        sarif_kind: str,
        template: str = "",
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
        if template and not fingerprints:
            fingerprints = {TEMPLATE_FINGERPRINT: template}
        secret_hash = ""
        title = rule.title or cap(first_line(message), MAX_TITLE)
        if kind == "secret":
            secret_hash = sha256_hex(snippet) if snippet else ""
            secrets = [snippet, *_offender(raw)]
            message = redact(message, secrets)
            title = redact(title, secrets)
            fingerprints = {k: redact(v, secrets) for k, v in fingerprints.items()}
            snippet = ""
        suppressed, suppression = (
            _suppression(raw, where)
            if "suppressions" in raw or "suppressionStates" in raw
            else (False, "")
        )
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
    ident = message.get("id")
    template = rule.message_strings.get(ident) if rule and isinstance(ident, str) else None
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
    """(suppressed, "<kind>: <justification>") by the rule in the module docstring."""
    suppressions = get_field(raw, "suppressions", list, where) or []
    accepted: dict[str, Any] | None = None
    for i, item in enumerate(suppressions):
        if not isinstance(item, dict):
            raise ParseError(
                FORMAT,
                f"a suppression must be a JSON object, got {type_name(item)}",
                pointer=f"{where}/suppressions/{i}",
            )
        status, kind = item.get("status"), item.get("kind")
        # CSD drafts of 2.1.0 spelled the review states as kinds.
        if status in _NOT_SUPPRESSED or kind in _NOT_SUPPRESSED_KINDS:
            return False, ""
        if status in (None, "accepted") and accepted is None:
            accepted = item
    if accepted is not None:
        kind = as_str(accepted.get("kind")) or "suppressed"
        justification = as_str(accepted.get("justification")).strip()
        text = f"{kind}: {justification}" if justification else kind
        return True, cap(text, MAX_TITLE)
    if raw.get("suppressions") is not None:  # [] says "not suppressed" (§3.27.23)
        return False, ""
    states = raw.get("suppressionStates")
    for state in states if isinstance(states, list) else ():
        if state in _LEGACY_STATES:
            return True, state
    return False, ""


def _offender(raw: dict[str, Any]) -> tuple[str, ...]:
    """gitleaks v6/v7 `properties.offender`: the secret itself, to hash and mask."""
    props = raw.get("properties")
    offender = props.get("offender") if isinstance(props, dict) else None
    return (offender,) if isinstance(offender, str) and offender.strip() else ()
