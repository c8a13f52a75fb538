"""Which module verifies and parses each kind's webhooks.

Every module offers `verify(*, secret, headers, body, now, settings) -> Verified` (raising
`HookRejected`) and `parse(*, headers, body) -> list[RemoteChange]` (raising `HookMalformed`);
see apps/connectors/inbound/signatures.py. Confluence sends nothing FixOps follows.
Slack's secret is the Slack-issued credential named by `slack.SECRET_CREDENTIAL`; every other
kind's is the webhook secret FixOps generates (GitLab's via `gitlab.new_secret()`).
"""

from __future__ import annotations

from types import ModuleType

from apps.connectors.azure_devops import webhook as azure_devops
from apps.connectors.github import webhook as github
from apps.connectors.gitlab import webhook as gitlab
from apps.connectors.jira import webhook as jira
from apps.connectors.servicenow import webhook as servicenow
from apps.connectors.slack import webhook as slack

HOOKS: dict[str, ModuleType] = {
    "jira": jira,
    "github": github,
    "gitlab": gitlab,
    "azure_devops": azure_devops,
    "servicenow": servicenow,
    "slack": slack,
}
