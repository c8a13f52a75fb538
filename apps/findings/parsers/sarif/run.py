"""What a SARIF run declares that its results refer to.

Pass 1 fills a `Run` per run (its tool components and their rules, `originalUriBaseIds`,
working directories, artifacts, invocation overrides, the result count); pass 2 reads it for
every result and caches there what depends only on a rule or a uri.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._common import pointer


@dataclass(frozen=True, slots=True)
class Rule:
    """The parts of a reportingDescriptor a finding needs (rules can number thousands)."""

    id: str = ""
    title: str = ""
    level: str = ""
    name: str = ""  # reportingDescriptor.name: some tools name a rule only this way
    guid: str = ""
    security_severity: float | None = None
    tags: tuple[str, ...] = ()
    cwes: tuple[int, ...] = ()
    help_uri: str = ""
    confidence: str = ""
    message_strings: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ToolComponent:
    """A toolComponent (the driver or an extension) with its rules."""

    name: str = ""
    version: str = ""
    rules: list[Rule] = field(default_factory=list)
    by_id: dict[str, Rule] = field(default_factory=dict)
    by_guid: dict[str, Rule] = field(default_factory=dict)

    def add(self, rule: Rule) -> None:
        self.rules.append(rule)
        if rule.id:
            self.by_id.setdefault(rule.id, rule)
        if rule.guid:
            self.by_guid.setdefault(rule.guid.lower(), rule)


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """What a result's rule decides, derived once per rule of a run instead of per result
    (100,000 results typically share a few dozen rules)."""

    rule: Rule | None  # as resolved; None when the log does not declare it
    effective: Rule  # `rule`, else a bare Rule carrying the result's ruleId
    rule_id: str
    kind: str  # finding kind from the tool and the rule's tags (result tags may change it)
    score_severity: str  # from the rule's security-severity; "" when it has none
    level: str  # invocation override, else the rule's default level; "" when neither
    references: tuple[str, ...]


@dataclass(slots=True)
class Run:
    """What a run declares that results refer to."""

    index: int
    tool: str = ""
    driver: ToolComponent | None = None
    extensions: list[ToolComponent] = field(default_factory=list)
    bases: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (uri, parent id)
    working_dirs: list[str] = field(default_factory=list)
    artifacts: list[tuple[str, str]] = field(default_factory=list)  # (uri, uriBaseId)
    overrides: dict[str, str] = field(default_factory=dict)  # rule id -> level
    index_overrides: dict[int, str] = field(default_factory=dict)  # driver rule index -> level
    roots: tuple[str, ...] | None = None
    count: int = 0  # results in this run, counted by pass 1
    # (uri, uriBaseId) -> (path, non-file uri, original path): results of one run share few
    # distinct files
    paths: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    # (ruleId, ruleIndex) -> what that rule decides; None when the result has no rule id
    facts: dict[tuple[str | None, int | None], RuleFacts | None] = field(default_factory=dict)
    # Results without a rule id (module `identity`): rule names and ids of every component
    # (built on first need), identities already derived, and how many results took each.
    names: dict[str, Rule] | None = None
    derived: dict[tuple[str, ...], tuple[RuleFacts, str]] = field(default_factory=dict)
    derived_counts: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return pointer("runs", self.index)
