"""The engine: compile errors name the line, v0 heads and broken result documents are refused,
run-time errors surface (strict built-ins), and nothing fails open."""

from __future__ import annotations

import pytest

from apps.policies import engine
from apps.policies.digests import policy_digest
from apps.policies.services import pack
from tests.policies.documents import document, finding

HEADER = "package fixops.gate\n\nimport rego.v1\n\n"
EMPTY_SETS = "deny := set()\nreview := set()\nwarn := set()\n"


def test_compile_error_names_line_and_column():
    source = HEADER + "deny contains x if {\n  x := input.findings[0] ==\n}\n"
    with pytest.raises(engine.EngineError) as caught:
        engine.validate(source)
    assert caught.value.line == 6
    assert caught.value.message.startswith("line 6, column")


def test_v0_rule_head_is_refused_because_it_silently_makes_an_object():
    source = HEADER + 'deny[msg] if { msg := "x" }\nreview := set()\nwarn := set()\n'
    with pytest.raises(engine.EngineError, match="line 5: Rego v0 rule head `deny"):
        engine.validate(source)


def test_another_package_is_refused():
    with pytest.raises(engine.EngineError, match="package fixops.gate"):
        engine.validate("package main\n\nimport rego.v1\n\n" + EMPTY_SETS)


def test_missing_set_is_refused_when_saved():
    source = HEADER + "deny := set()\nwarn := set()\n"
    with pytest.raises(engine.EngineError, match="review is undefined"):
        engine.validate(source)


def test_object_instead_of_set_is_refused():
    source = HEADER + 'deny := {"a": 1}\nreview := set()\nwarn := set()\n'
    with pytest.raises(engine.EngineError, match="must be a set of objects"):
        engine.validate(source)


def test_strict_builtin_error_is_an_engine_error_not_an_undefined():
    # time.parse_rfc3339_ns fails on a `Z`-less garbage value; non-strict mode would make
    # `not expired(f)` true and let the finding through.
    source = HEADER + (
        'deny contains {"rule": "t", "message": "m", "finding_ids": [f.id]} if {\n'
        "  some f in input.findings\n"
        "  time.parse_rfc3339_ns(f.path) > 0\n"
        "}\nreview := set()\nwarn := set()\n"
    )
    compiled = engine.compile_policy(source)
    with pytest.raises(engine.EngineError, match="Unable to parse time"):
        compiled.evaluate(document(finding(path="not-a-time"), filt={"all": True}))


def test_entry_without_message_is_refused():
    source = HEADER + 'deny contains {"rule": "x"} if { true }\nreview := set()\nwarn := set()\n'
    with pytest.raises(engine.EngineError, match="must be an object with rule, message"):
        engine.validate(source)


def test_non_integer_finding_ids_are_refused():
    source = HEADER + (
        'deny contains {"rule": "x", "message": "m", "finding_ids": ["a"]} if { true }\n'
        "review := set()\nwarn := set()\n"
    )
    with pytest.raises(engine.EngineError, match="finding_ids must be integers"):
        engine.validate(source)


def test_bare_string_messages_are_accepted_like_conftest():
    source = HEADER + 'warn contains "careful" if { true }\ndeny := set()\nreview := set()\n'
    result = engine.compile_policy(source).evaluate(document())
    assert result.outcome == "ALLOW"
    assert [(r.level, r.rule, r.message) for r in result.reasons] == [("warn", "warn", "careful")]


@pytest.mark.parametrize(
    ("sets", "outcome"),
    [
        ({"deny": 1, "review": 1, "warn": 1}, "BLOCK"),
        ({"deny": 0, "review": 1, "warn": 1}, "NEEDS_REVIEW"),
        ({"deny": 0, "review": 0, "warn": 1}, "ALLOW"),
        ({"deny": 0, "review": 0, "warn": 0}, "ALLOW"),
    ],
)
def test_outcome_is_the_strictest_non_empty_level(sets, outcome):
    result = {
        level: [{"rule": level, "message": level, "finding_ids": []}] * count
        for level, count in sets.items()
    }
    assert engine.interpret(result).outcome == outcome


def test_compiled_policies_are_cached_per_digest():
    source, parameters = pack()
    first = engine.compile_policy(source, parameters)
    assert engine.compile_policy(source, parameters) is first
    assert engine.compile_policy(source, {**parameters, "epss_warn": 0.9}) is not first


def test_digest_covers_parameters():
    assert policy_digest("a", {"x": 1}) != policy_digest("a", {"x": 2})
    assert policy_digest("a", {"x": 1, "y": 2}) == policy_digest("a", {"y": 2, "x": 1})
