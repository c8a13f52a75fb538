"""IdP groups and claims -> tenant memberships and roles, the same for OIDC and SAML.

A mapping is a list of rules; each grants one role in one tenant when it matches:

    {"group": "secops-admins", "tenant": "acme", "role": "admin"}
    {"claim": "department", "equals": "security", "tenant": "acme", "role": "viewer"}

`group` matches one of the user's groups (the provider's `groups_claim` / `groups_attribute`);
`claim` + `equals` match any other claim or attribute (a list value matches if it contains the
value). When several rules grant roles in one tenant the highest role wins. Nothing else
grants access: a user no rule matches gets no membership.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from apps.tenants.models import slug_validator
from apps.tenants.roles import Role, role_at_least


class MappingError(ValueError):
    """A mapping rule is malformed; the message names the rule and the problem."""


@dataclass(frozen=True)
class Rule:
    tenant: str
    role: str
    group: str | None = None
    claim: str | None = None
    equals: str | None = None

    def matches(self, groups: set[str], claims: Mapping[str, Any]) -> bool:
        if self.group is not None:
            return self.group in groups
        value = claims.get(self.claim or "")
        if isinstance(value, list | tuple | set):
            return self.equals in {str(v) for v in value}
        return value is not None and str(value) == self.equals


def parse_rules(raw: Any, *, where: str = "mapping") -> list[Rule]:
    """Validated rules from their JSON form; MappingError names the first bad rule."""
    if not isinstance(raw, list):
        raise MappingError(f"{where} must be a JSON list of rules, not {type(raw).__name__}")
    rules = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise MappingError(f"{at} must be an object")
        unknown = set(item) - {"group", "claim", "equals", "tenant", "role"}
        if unknown:
            raise MappingError(f"{at} has unknown key(s): {', '.join(sorted(unknown))}")
        tenant, role = item.get("tenant"), item.get("role")
        if not isinstance(tenant, str):
            raise MappingError(f"{at} needs a tenant slug")
        try:
            slug_validator(tenant)
        except Exception:  # noqa: BLE001 - Django's ValidationError; reported below
            raise MappingError(f"{at}: {tenant!r} is not a tenant slug") from None
        if role not in Role.values:
            raise MappingError(f"{at}: role must be one of {', '.join(Role.values)}, not {role!r}")
        has_group = isinstance(item.get("group"), str) and item["group"] != ""
        has_claim = isinstance(item.get("claim"), str) and isinstance(item.get("equals"), str)
        if has_group == has_claim:
            raise MappingError(f'{at} needs either "group" or "claim" + "equals"')
        rules.append(
            Rule(
                tenant=tenant,
                role=role,
                group=item.get("group"),
                claim=item.get("claim"),
                equals=item.get("equals"),
            )
        )
    return rules


def grants_for(
    rules: Iterable[Rule], *, groups: Iterable[str], claims: Mapping[str, Any]
) -> dict[str, str]:
    """{tenant slug: role} that `rules` grant to a user with `groups` and `claims`."""
    group_set = {str(g) for g in groups}
    granted: dict[str, str] = {}
    for rule in rules:
        if not rule.matches(group_set, claims):
            continue
        current = granted.get(rule.tenant)
        if current is None or not role_at_least(current, rule.role):
            granted[rule.tenant] = rule.role
    return granted


def groups_from(value: Any) -> list[str]:
    """A groups claim as a list of strings (IdPs send a list, a string or nothing)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple | set):
        return [str(v) for v in value]
    return []
