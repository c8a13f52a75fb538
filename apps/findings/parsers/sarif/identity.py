"""The identity of a result that names no rule id, from what the result does say.

SARIF requires `ruleId` or `rule.id` (§3.27.5), yet real tools omit both: gitleaks v6 to v7.5
writes neither and names the rule only in its message ("AWS Access Key secret detected"), its
`rules[]` holding the descriptions as ids. Such a result is not lost; module `rules` has
already tried `rule.index`/`ruleIndex`, `rule.guid` and the indexed rule's id, name and guid.
Then, first match wins:

1. properties: a rule-naming key of the result's `properties` (`rule`, `ruleId`, `rule_id`,
   `ruleName`, `rule_name`, `check_id`, `checkId`); a rule of the run with that id or name
   (case-insensitive) is used when there is one, else the value itself is the rule id.
2. message: the message text equals, or begins with (up to a word boundary), the id or name
   of a rule of the driver or an extension: that rule, the longest match winning. For
   gitleaks < 7.6 this gives exactly the `ruleId` 7.6 writes, so both keep one identity.
3. template: the message template: `message.id` when given, else the message text with its
   variable parts masked (uris, e-mail addresses, paths, hex runs and UUIDs, letter-and-digit
   runs of 16 or more such as keys and base64, standalone numbers, and gitleaks'
   `properties.offender`), followed by the result's `properties.tags` in brackets. The
   template is the rule id, capped at 200 characters.

Nothing of the kind (no rule, no message, no rule-naming property) leaves the result lost.
A derived identity carries the partial fingerprint `pfp:fixops/messageTemplate` (the masked
template) unless the tool gave fingerprints of its own: dedup scopes a partial fingerprint by
rule and path, so the same result keeps its key when its line or the value in its message
changes (codeql-action likewise computes partial fingerprints a log lacks).
"""

from __future__ import annotations

import re
from typing import Any

from .._common import cap
from .rules import facts_for
from .run import Rule, RuleFacts, Run

PROPERTY_KEYS = ("rule", "ruleId", "rule_id", "ruleName", "rule_name", "check_id", "checkId")
TEMPLATE_FINGERPRINT = "pfp:fixops/messageTemplate"
MAX_DERIVED_ID = 200
SOURCES = {
    "properties": "a rule-naming property",
    "message": "the rule their message names",
    "template": "their message template",
}
_CACHE_SIZE = 65536
_TEMPLATE_SOURCE = 2000  # characters of the message a template is made from
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_RUN = re.compile(r"[A-Za-z0-9+_=-]{8,}")
_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_SEPARATORS = re.compile(r"[-_]")
_NUMBER = re.compile(r"(?<![\w-])\d+(?:[.,:]\d+)*(?![\w-])")
_BOUNDARY = re.compile(r"\W")


def derive(
    raw: dict[str, Any], run: Run, message: str, secrets: tuple[str, ...] = ()
) -> tuple[RuleFacts, str, str] | None:
    """(facts, source, template) for a result without a rule id; None when nothing names it.

    `message` is the result's message as `results` resolved it; `secrets` are values to mask
    out of the template (the snippet and offender of a secret result)."""
    props = raw.get("properties")
    props = props if isinstance(props, dict) else {}
    template = message_template(raw.get("message"), message, secrets)
    for key in PROPERTY_KEYS:
        value = props.get(key)
        if isinstance(value, str) and value.strip():
            name = cap(value.strip(), MAX_DERIVED_ID)
            rule = _names(run).get(name.lower())
            rule_id = rule.id or rule.name if rule else name
            return (*_facts(run, "properties", rule, rule_id), template)
    if message:
        rule = _named_in(message, run)
        if rule is not None:
            return (*_facts(run, "message", rule, rule.id or rule.name), template)
    if template:
        tags = _tags(props.get("tags"))
        derived = f"{template} [{', '.join(tags)}]" if tags else template
        return (*_facts(run, "template", None, cap(derived, MAX_DERIVED_ID)), template)
    return None


def message_template(message: Any, text: str, secrets: tuple[str, ...] = ()) -> str:
    """`message.id`, else `text` with its variable parts masked, whitespace collapsed."""
    ident = message.get("id") if isinstance(message, dict) else None
    if isinstance(ident, str) and ident.strip():
        return cap(ident.strip(), MAX_DERIVED_ID)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    return " ".join(_mask(token) for token in text[:_TEMPLATE_SOURCE].split())


def _mask(token: str) -> str:
    """One whitespace-separated token with its variable parts masked (linear in its length:
    messages are hostile input too)."""
    if "://" in token:
        return "<uri>"
    if "@" in token and _EMAIL.search(token):
        return _EMAIL.sub("<email>", token)
    if "/" in token or "\\" in token:
        return "<path>"
    return _NUMBER.sub("<n>", _RUN.sub(_mask_run, token))


def _mask_run(match: re.Match[str]) -> str:
    """Hex runs with a digit (hashes, addresses, UUIDs) and letter-and-digit runs of 16 or
    more without a `-` or `_` (keys, tokens); "GHSA-jfh8-c2jp-5v3q" or "rule_name_v2" are
    names, not values, and stay."""
    run = match.group(0)
    digits = any(c.isdigit() for c in run)
    if digits and (_HEX.fullmatch(run) or _UUID.fullmatch(run)):
        return "<hex>"
    if (
        digits
        and any(c.isalpha() for c in run)
        and max(len(part) for part in _SEPARATORS.split(run)) >= 16
    ):
        return "<secret>"
    return run


def _facts(run: Run, source: str, rule: Rule | None, rule_id: str) -> tuple[RuleFacts, str]:
    key = (source, rule_id)
    found = run.derived.get(key)
    if found is None:
        if len(run.derived) >= _CACHE_SIZE:
            run.derived.clear()
        found = run.derived[key] = (facts_for(rule, rule_id, None, run), source)
    return found


def _names(run: Run) -> dict[str, Rule]:
    """Lower-cased rule ids and names of every component of the run (ids win over names)."""
    if run.names is None:
        names: dict[str, Rule] = {}
        components = [c for c in [run.driver, *run.extensions] if c is not None]
        for attribute in ("id", "name"):
            for component in components:
                for rule in component.rules:
                    value = getattr(rule, attribute).strip().lower()
                    if value:
                        names.setdefault(value, rule)
        run.names = names
    return run.names


def _named_in(message: str, run: Run) -> Rule | None:
    """The rule whose id or name the message is, or begins with up to a word boundary."""
    names = _names(run)
    if not names:
        return None
    text = message.strip().lower()[: MAX_DERIVED_ID * 2]
    found = names.get(text)
    if found is not None:
        return found
    # Prefixes ending at a word boundary, longest first.
    for match in reversed(list(_BOUNDARY.finditer(text))):
        rule = names.get(text[: match.start()].rstrip())
        if rule is not None:
            return rule
    return None


def _tags(value: Any) -> list[str]:
    """Result tags as a list (gitleaks v7 JSON writes one comma-separated string)."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(t.strip() for t in value if isinstance(t, str) and t.strip()))
