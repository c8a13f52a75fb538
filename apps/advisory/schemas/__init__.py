"""The tasks' published JSON schemas and the portable subset sent to vendors.

The published schema (triage.json, brief.json) is what every answer is validated against,
locally, with a full JSON Schema validator. What goes on the wire is `wire_schema(schema)`: one
portable dialect every vendor accepts (root object, every property required, nullable types,
additionalProperties false, no numeric or string constraints: those move into the description,
as Anthropic's SDK does; x- annotations dropped). Reference: llm-and-channels.md §2.6 and §9.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator

TASKS = ("triage", "brief")

# Keywords some vendor rejects or ignores; kept in the local validation, described on the wire.
_DESCRIBED = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minItems",
    "maxItems",
)
_DROPPED = ("$schema", "$id", "title", "$comment")


@cache
def _load(task: str) -> str:
    if task not in TASKS:
        raise KeyError(task)
    return resources.files("apps.advisory.schemas").joinpath(f"{task}.json").read_text()


def schema_for(task: str) -> dict:
    """The published schema of `task` (a fresh copy: callers may not change the original)."""
    return json.loads(_load(task))


def schema_name(task: str) -> str:
    return f"fixops_{task}"


def validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema)


def validation_errors(schema: dict, data: object) -> list[str]:
    """Every way `data` strays from `schema` (empty when it conforms)."""
    errors = sorted(validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def wire_schema(schema: dict) -> dict:
    """The portable subset of `schema` that goes to the vendors (see the module docstring)."""
    return _portable(copy.deepcopy(schema))


def _portable(node: object) -> object:
    if isinstance(node, list):
        return [_portable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict = {}
    notes = []
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key in _DESCRIBED:
            notes.append(f"{key}: {value}")
            continue
        if key == "properties":
            out[key] = {name: _portable(sub) for name, sub in value.items()}
        else:
            out[key] = _portable(value)
    if notes:
        out["description"] = (out.get("description", "") + f" ({'; '.join(notes)})").strip()
    if out.get("type") == "object":
        out["additionalProperties"] = False
        out["required"] = list(out.get("properties", {}))
    return out
