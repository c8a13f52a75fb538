"""The policy engine: compile Rego v1 once per policy version, evaluate it in-process with
regopy (or on an external OPA server), and turn its result document into an outcome.

Contract with a policy (docs/policies.md): package `fixops.gate` defines `deny`, `review` and
`warn` as sets of `{"rule", "message", "finding_ids", "profiles"}` objects (either id list may
be absent; profile refs are expanded here into their member finding ids). The engine queries
`data.fixops.gate` once and reads those three sets. Any failure (compile error, strict
built-in error, a missing or malformed set) raises EngineError, and the decision service
turns that into BLOCK: the gate fails closed, never open.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from regopy import Input, Interpreter, RegoError, rego_shared

from apps.policies.digests import policy_digest
from apps.policies.inputs import empty_document
from apps.policies.models import Outcome
from apps.policies.profiles import policy_view, profile_members

PACKAGE = "fixops.gate"
QUERY_PATH = "fixops/gate"
LEVELS = ("deny", "review", "warn")
_OUTCOME_BY_LEVEL = (("deny", Outcome.BLOCK), ("review", Outcome.NEEDS_REVIEW))
MAX_MESSAGE = 1000
CACHE_SIZE = 64

# Rego v0 rule heads (`deny[msg] {`) compile without complaint in regopy and silently turn a
# set into an object (standards reference §8), so the linter refuses them outright.
_V0_HEAD = re.compile(r"^\s*(deny|review|warn)\s*\[[^\]]*\]\s*(\{|if\b)", re.MULTILINE)
_PACKAGE_LINE = re.compile(r"^\s*package\s+([\w.]+)\s*$", re.MULTILINE)
# A string, raw string or comment (brackets inside them do not nest), or one bracket.
_REGO_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|#[^\n]*|[][(){}]')
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")


class EngineError(Exception):
    """The policy could not produce a decision; `line` points into the source when known."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "column": self.column}


class TooDeepSource(EngineError):
    """The source nests brackets deeper than FIXOPS_MAX_INPUT_DEPTH (regopy would overflow
    its stack: 30,000 nested brackets, 60 KB, crashed the process with SIGSEGV)."""

    def __init__(self, limit: int, *, line: int, column: int):
        super().__init__(
            f"line {line}, column {column}: nested deeper than {limit} levels",
            line=line,
            column=column,
        )
        self.limit = limit

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "limit": self.limit}


@dataclass(frozen=True)
class Reason:
    level: str
    rule: str
    message: str
    finding_ids: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "rule": self.rule,
            "message": self.message,
            "finding_ids": list(self.finding_ids),
        }


@dataclass
class Evaluation:
    outcome: str
    reasons: list[Reason]
    result: dict[str, Any] = field(default_factory=dict)


def _line_col(source: str, offset: int) -> tuple[int, int]:
    before = source.encode()[:offset].decode(errors="replace")
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _compile_error(source: str, exc: RegoError) -> EngineError:
    """regopy reports errors as an s-expression: `(errormsg N:<text>)` and `|offset|len`."""
    text = str(exc)
    message = re.search(r"errormsg \d+:([^)]*)\)", text)
    position = re.search(r"\|(\d+)\|\d+", text)
    detail = message.group(1).strip() if message else text.strip()[:300]
    if position:
        line, column = _line_col(source, int(position.group(1)))
        return EngineError(f"line {line}, column {column}: {detail}", line=line, column=column)
    return EngineError(detail)


def check_nesting(source: str) -> None:
    """TooDeepSource when brackets ((), [], {}) outside strings and comments nest deeper than
    FIXOPS_MAX_INPUT_DEPTH: regopy parses and compiles recursively, in C++, with no limit."""
    limit = settings.FIXOPS_MAX_INPUT_DEPTH
    depth = 0
    for match in _REGO_TOKENS.finditer(source):
        token = match.group()
        if token in _OPENERS:
            depth += 1
            if depth > limit:
                line, column = _line_col(source, len(source[: match.start()].encode()))
                raise TooDeepSource(limit, line=line, column=column)
        elif token in _CLOSERS:
            depth = max(depth - 1, 0)


def lint(source: str) -> None:
    """Refuse what compiles but would decide wrongly: another package, Rego v0 rule heads;
    and what regopy cannot read safely: nesting past the limit."""
    check_nesting(source)
    match = _PACKAGE_LINE.search(source)
    if not match or match.group(1) != PACKAGE:
        found = match.group(1) if match else "none"
        raise EngineError(f"the policy must declare `package {PACKAGE}` (found: {found})", line=1)
    v0 = _V0_HEAD.search(source)
    if v0:
        line = source[: v0.start(1)].count("\n") + 1
        raise EngineError(
            f"line {line}: Rego v0 rule head `{v0.group(1)}[...]` is not allowed; write "
            f"`{v0.group(1)} contains msg if {{ ... }}` (Rego v1)",
            line=line,
        )


def _interpreter() -> Interpreter:
    interpreter = Interpreter()
    # Without this an erroring built-in (e.g. time parsing) is *undefined* and a `not` around
    # it silently flips the answer (standards reference §8).
    interpreter.strict_built_in_errors = True
    return interpreter


class CompiledPolicy:
    """A compiled bundle of one policy version, shareable by the threads of a process."""

    def __init__(self, source: str, parameters: dict):
        lint(source)
        interpreter = _interpreter()
        try:
            interpreter.add_data({"fixops": {"params": parameters}})
            interpreter.add_module("policy.rego", source)
            self.bundle = interpreter.build(f"x = data.{PACKAGE}", [QUERY_PATH])
        except RegoError as exc:
            raise _compile_error(source, exc) from None
        if not self.bundle.ok():
            raise EngineError("the policy did not compile (regopy returned no bundle)")
        self.digest = policy_digest(source, parameters)

    def evaluate(self, document: dict) -> Evaluation:
        interpreter = _interpreter()
        interpreter.set_input(Input(policy_view(document)))
        output = interpreter.query_bundle_entrypoint(self.bundle, QUERY_PATH)
        if not output.ok():
            raise EngineError(f"the policy failed at run time: {_runtime_error(output)}")
        expressions = output[0].expressions if len(output) else []
        if not expressions or not isinstance(expressions[0], dict):
            raise EngineError(f"data.{PACKAGE} is undefined for this input")
        return interpret(expressions[0], profile_members(document))


def _runtime_error(output) -> str:
    """Collect the text values of regopy's error node (message, argument, error code)."""
    parts: list[str] = []

    def walk(impl) -> None:
        try:
            value = rego_shared.rego_node_value(impl)
        except RegoError:
            value = ""
        if value:
            parts.append(str(value))
        for index in range(rego_shared.rego_node_size(impl)):
            walk(rego_shared.rego_node_get(impl, index))

    try:
        walk(output.node()._impl)
    except (RegoError, AttributeError):
        return "unknown error"
    return "; ".join(parts) or "unknown error"


def interpret(result: dict[str, Any], members: dict[str, list[int]] | None = None) -> Evaluation:
    """Validate the policy's result document and derive the outcome from it; `members` maps
    profile refs to finding ids."""
    reasons: list[Reason] = []
    for level in LEVELS:
        if level not in result:
            raise EngineError(f"data.{PACKAGE}.{level} is undefined; define it (it may be empty)")
        entries = result[level]
        if not isinstance(entries, list):
            raise EngineError(
                f"data.{PACKAGE}.{level} must be a set of objects, got {type(entries).__name__}"
                " (a Rego v0 `deny[msg]` head makes an object)"
            )
        for entry in entries:
            reasons.append(_reason(level, entry, members or {}))
    levels = {reason.level for reason in reasons}
    outcome = next((o for lvl, o in _OUTCOME_BY_LEVEL if lvl in levels), Outcome.ALLOW)
    order = {level: i for i, level in enumerate(LEVELS)}
    reasons.sort(key=lambda r: (order[r.level], r.rule, r.message))
    return Evaluation(outcome=outcome, reasons=reasons, result=result)


def _reason(level: str, entry: Any, members: dict[str, list[int]]) -> Reason:
    if isinstance(entry, str):  # a bare message is accepted, as conftest does
        return Reason(level=level, rule=level, message=entry[:MAX_MESSAGE])
    if not isinstance(entry, dict) or "message" not in entry:
        raise EngineError(
            f"each {level} entry must be an object with rule, message and finding_ids; "
            f"got {json.dumps(entry)[:200]}"
        )
    ids = entry.get("finding_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise EngineError(f"{level} entry {entry.get('rule')!r}: finding_ids must be integers")
    refs = entry.get("profiles", [])
    unknown = [r for r in refs if r not in members] if isinstance(refs, list) else refs
    if unknown:
        raise EngineError(f"{level} entry {entry.get('rule')!r}: unknown profiles {unknown}")
    ids = [*ids, *(i for ref in refs for i in members[ref])]
    return Reason(
        level=level,
        rule=str(entry.get("rule", level))[:200],
        message=str(entry["message"])[:MAX_MESSAGE],
        finding_ids=tuple(sorted(set(ids))),
    )


class _Cache:
    """Compiled policies per process, keyed by digest (LRU): compiling costs milliseconds,
    evaluating a compiled bundle about one (standards reference §8)."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[str, CompiledPolicy] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, source: str, parameters: dict) -> CompiledPolicy:
        key = policy_digest(source, parameters)
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        compiled = CompiledPolicy(source, parameters)
        with self.lock:
            self.entries[key] = compiled
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return compiled

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()


compiled_cache = _Cache(CACHE_SIZE)


def compile_policy(source: str, parameters: dict | None = None) -> CompiledPolicy:
    """Compile (or fetch from the process cache); EngineError with the line on failure."""
    return compiled_cache.get(source, parameters or {})


def validate(source: str, parameters: dict | None = None) -> None:
    """Compile and run the policy once on an empty input, so a policy that cannot produce
    the three sets is refused when saved rather than at the first gate."""
    compiled = compile_policy(source, parameters)
    compiled.evaluate(empty_document())
