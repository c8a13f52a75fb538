"""Declared configuration of a connector kind: every credential and setting it reads, with its
label, type, whether it is required, help and whether it is a secret.

Each `Connector` subclass lists its `fields`; the one source of truth for both the API's
validation (`Connector.validate` checks required settings and types from it) and the admin's
form per kind (apps/connectors/admin_forms.py builds a field per entry: secrets write-only).
Cross-field rules (Jira Cloud needs email + API token, Data Center a token; Slack's bot token
needs a channel) stay in the connector's own `validate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

CREDENTIALS = "credentials"
SETTINGS = "settings"

# text: a string (or a number); url: an http(s) URL (checked by the SSRF guard too); choice:
# one of `choices`; integer: between `minimum` and `maximum`; list: a list of strings (the
# admin takes them comma-separated); mapping: an object (JSON in the admin).
FieldType = Literal["text", "url", "choice", "integer", "list", "mapping"]


@dataclass(frozen=True)
class ConfigField:
    name: str
    label: str
    where: Literal["credentials", "settings"] = SETTINGS
    type: FieldType = "text"
    required: bool = False
    help: str = ""
    secret: bool = False  # write-only: never rendered back, blank keeps the stored value
    choices: tuple[str, ...] = ()
    default: Any = None  # what the connector assumes when the setting is absent
    minimum: int | None = None
    maximum: int | None = None

    @property
    def key(self) -> str:
        """The dotted name errors use: settings.project_key, credentials.webhook_url."""
        return f"{self.where}.{self.name}"


def secret(name: str, label: str, help: str = "", **kw: Any) -> ConfigField:
    """A write-only credential (token, password, webhook URL)."""
    return ConfigField(name, label, where=CREDENTIALS, secret=True, help=help, **kw)


def credential(name: str, label: str, help: str = "", **kw: Any) -> ConfigField:
    """A credential that is not secret (a user name or e-mail), shown back on edit."""
    return ConfigField(name, label, where=CREDENTIALS, help=help, **kw)


def _integer_error(field: ConfigField, value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return "must be an integer"
    low = field.minimum if field.minimum is not None else value
    high = field.maximum if field.maximum is not None else value
    return None if low <= value <= high else f"must be from {low} to {high}"


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


_CHECKS = {
    # A number is text too: vendors' ids and states ("6") were accepted as numbers before.
    "text": lambda f, v: None if _scalar(v) else "must be a string",
    "url": lambda f, v: None if isinstance(v, str) else "must be a string",
    "choice": lambda f, v: None if v in f.choices else f"must be one of {', '.join(f.choices)}",
    "integer": _integer_error,
    "list": lambda f, v: (
        None
        if isinstance(v, list) and all(isinstance(i, str) for i in v)
        else "must be a list of names"
    ),
    "mapping": lambda f, v: None if isinstance(v, dict) else "must be an object",
}


def type_error(field: ConfigField, value: Any) -> str | None:
    """Why `value` does not fit `field`'s declared type, or None."""
    return _CHECKS[field.type](field, value)


def describe(fields: tuple[ConfigField, ...]) -> list[dict[str, Any]]:
    """The schema as plain data (docs, the admin's help, API clients)."""
    return [
        {
            "name": f.name,
            "label": f.label,
            "in": f.where,
            "type": f.type,
            "required": f.required,
            "secret": f.secret,
            "help": f.help,
            **({"choices": list(f.choices)} if f.choices else {}),
            **({"default": f.default} if f.default is not None else {}),
        }
        for f in fields
    ]
