"""Rules of a SARIF run: reading reportingDescriptors, and resolving the rule a result names.

- rule: `result.rule.toolComponent` (index or name) selects `tool.extensions[i]`, else the
  driver; then `rule.index`/`ruleIndex`, else lookup by `ruleId` (also its first "/" segment,
  and the other components), else by `rule.guid` in every component. `rule_id` = `ruleId`,
  else `rule.id`, else the resolved rule's id, its `name`, its `guid`. A result that names no
  rule this way gets its identity from module `identity`.
- title: the rule's shortDescription (unless it only repeats the rule id, as Semgrep's does),
  else its fullDescription's first line (else, per result, the message's first line).

What depends only on the rule (kind, default severity and level, references) is derived once
per (ruleId, ruleIndex) of a run and cached on the run: 100,000 results typically share a few
dozen rules.
"""

from __future__ import annotations

from typing import Any

from .._common import MAX_TITLE, as_str, cap, type_name
from ..base import ParseError, ParseIssue
from .fields import FORMAT, first_line, get_field, message_text
from .run import Rule, RuleFacts, Run, ToolComponent
from .severity import LEVEL_SEVERITY, PRECISION_CONFIDENCE, security_score, severity_band
from .taxonomy import cwes, infer_kind, taxa_cwes

FACTS_CACHE_SIZE = 65536


def rule_from(raw: Any, where: str, issues: list[ParseIssue] | None = None) -> Rule:
    """The parts of one reportingDescriptor a finding needs; ParseError if it is no object.

    A `defaultConfiguration.level` that is not one of the four level strings (an object, an
    array, "critical") is ignored with a warning appended to `issues`."""
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
    if level is not None and not (isinstance(level, str) and level in LEVEL_SEVERITY):
        if issues is not None:
            issues.append(bad_level(level, f"{where}/defaultConfiguration/level"))
        level = None
    short = message_text(raw, "shortDescription")
    restates_id = bool(rule_id) and rule_id in short
    title = short if short and not restates_id else first_line(message_text(raw, "fullDescription"))
    strings = raw.get("messageStrings")
    precision = props.get("precision")
    name, guid = raw.get("name"), raw.get("guid")
    return Rule(
        id=rule_id,
        title=cap(title, MAX_TITLE),
        level=level if isinstance(level, str) and level in LEVEL_SEVERITY else "",
        name=cap(name.strip(), MAX_TITLE) if isinstance(name, str) else "",
        guid=guid.strip() if isinstance(guid, str) else "",
        security_severity=security_score(props.get("security-severity")),
        tags=tags,
        cwes=cwes(
            list(tags)
            + (cwe_values if isinstance(cwe_values, list) else [])
            + taxa_cwes(raw.get("relationships"))
        ),
        help_uri=raw["helpUri"] if isinstance(raw.get("helpUri"), str) else "",
        confidence=PRECISION_CONFIDENCE.get(precision, "") if isinstance(precision, str) else "",
        message_strings={
            k: v["text"]
            for k, v in (strings.items() if isinstance(strings, dict) else ())
            if isinstance(v, dict) and isinstance(v.get("text"), str)
        },
    )


def bad_level(value: Any, where: str) -> ParseIssue:
    """The warning for a level that is not "none", "note", "warning" or "error"."""
    shown = cap(as_str(value) or type_name(value), 40)
    return ParseIssue(
        where, f"level {shown!r} is not a SARIF level; ignored", lost_finding=False, reason="level"
    )


def rule_facts(raw: dict[str, Any], run: Run, where: str) -> RuleFacts | None:
    """What the result's rule decides, cached per (ruleId, ruleIndex) within the run.

    A result with a `rule` reference object (rare) is resolved without the cache, since
    the reference takes part in the lookup. None: no rule id at all (skip the result).
    """
    if "rule" in raw:
        return _derive_facts(raw, run, where)
    rule_id = raw.get("ruleId")
    if rule_id.__class__ is not str:
        rule_id = get_field(raw, "ruleId", str, where)
    index = raw.get("ruleIndex")
    key = (rule_id, index if index.__class__ is int else None)
    try:
        return run.facts[key]
    except KeyError:
        pass
    if len(run.facts) >= FACTS_CACHE_SIZE:
        run.facts.clear()
    facts = run.facts[key] = _derive_facts(raw, run, where)
    return facts


def _derive_facts(raw: dict[str, Any], run: Run, where: str) -> RuleFacts | None:
    rule, rule_index = _resolve(raw, run, where)
    ref = get_field(raw, "rule", dict, where) or {}
    rule_id = (
        get_field(raw, "ruleId", str, where)
        or as_str(ref.get("id"))
        or (rule.id or rule.name or rule.guid if rule else "")
    )
    if not rule_id:
        return None
    return facts_for(rule, rule_id, rule_index, run)


def facts_for(rule: Rule | None, rule_id: str, rule_index: int | None, run: Run) -> RuleFacts:
    """What a rule decides for results naming it as `rule_id` (`rule` None: not declared)."""
    effective = rule or Rule(id=rule_id)
    score = effective.security_severity
    level = (
        run.overrides.get(effective.id)
        or (run.index_overrides.get(rule_index) if rule_index is not None else None)
        or effective.level
    )
    return RuleFacts(
        rule=rule,
        effective=effective,
        rule_id=rule_id,
        kind=infer_kind(run.tool, rule_id, effective.tags),
        score_severity=(severity_band(score) or "medium") if score is not None else "",
        level=level or "",
        references=(effective.help_uri,) if effective.help_uri else (),
    )


def _resolve(raw: dict[str, Any], run: Run, where: str) -> tuple[Rule | None, int | None]:
    """The reportingDescriptor a result refers to, and its index in the driver if any."""
    ref = get_field(raw, "rule", dict, where) or {}
    component = run.driver
    in_driver = True
    tool_ref = get_field(ref, "toolComponent", dict, where, "/rule") if ref else None
    if tool_ref:
        component, in_driver = _component_for(tool_ref, run)
    index = ref.get("index") if isinstance(ref.get("index"), int) else raw.get("ruleIndex")
    index = index if isinstance(index, int) and not isinstance(index, bool) else None
    rule_id = raw.get("ruleId") if isinstance(raw.get("ruleId"), str) else ref.get("id")
    rule = None
    if component is not None and index is not None and 0 <= index < len(component.rules):
        rule = component.rules[index]
    if isinstance(rule_id, str) and (rule is None or rule.id != rule_id):
        rule = _lookup(rule_id, [component] if component else [], run) or rule
    guid = ref.get("guid")
    if rule is None and isinstance(guid, str) and guid:
        rule = next(
            (c.by_guid[guid.lower()] for c in _components(run) if guid.lower() in c.by_guid), None
        )
    return rule, (index if in_driver and rule is not None else None)


def _components(run: Run) -> list[ToolComponent]:
    return [c for c in [run.driver, *run.extensions] if c is not None]


def _component_for(ref: dict[str, Any], run: Run) -> tuple[ToolComponent | None, bool]:
    index, name = ref.get("index"), ref.get("name")
    if isinstance(index, int) and not isinstance(index, bool):
        ok = 0 <= index < len(run.extensions)
        return (run.extensions[index] if ok else None), False
    if isinstance(name, str):
        for component in run.extensions:
            if component.name == name:
                return component, False
    return run.driver, True


def _lookup(rule_id: str, preferred: list[ToolComponent], run: Run) -> Rule | None:
    """A rule by id (or by its first hierarchical segment) in `preferred`, then everywhere."""
    components = preferred + [c for c in [run.driver, *run.extensions] if c and c not in preferred]
    for candidate in (rule_id, rule_id.split("/", 1)[0]):
        for component in components:
            rule = component.by_id.get(candidate)
            if rule is not None:
                return rule
    return None
