"""Which module verifies and parses each kind's webhooks.

Every module offers `verify(*, secret, headers, body, now, settings) -> Verified` (raising
`HookRejected`) and `parse(*, headers, body) -> list[RemoteChange]` (raising `HookMalformed`);
see apps/connectors/inbound/signatures.py. Confluence sends nothing FixOps follows.
"""

from __future__ import annotations

from types import ModuleType

from apps.connectors.github import webhook as github
from apps.connectors.gitlab import webhook as gitlab
from apps.connectors.jira import webhook as jira

HOOKS: dict[str, ModuleType] = {
    "jira": jira,
    "github": github,
    "gitlab": gitlab,
}
