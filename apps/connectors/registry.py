"""Connector kinds, registered by dotted path (imported only when used)."""

from __future__ import annotations

from importlib import import_module

from apps.connectors.base import Connector
from fixops.platform.http.errors import PermanentError

_REGISTRY: dict[str, str] = {
    "jira": "apps.connectors.jira.JiraConnector",
    "servicenow": "apps.connectors.servicenow.ServiceNowConnector",
    "gitlab": "apps.connectors.gitlab.GitLabConnector",
    "github": "apps.connectors.github.GitHubConnector",
    "azure_devops": "apps.connectors.azure_devops.AzureDevOpsConnector",
    "slack": "apps.connectors.slack.SlackConnector",
    "confluence": "apps.connectors.confluence.ConfluenceConnector",
}

KINDS: tuple[str, ...] = tuple(_REGISTRY)


def connector_class(kind: str) -> type[Connector]:
    """The Connector subclass registered for `kind`."""
    try:
        dotted = _REGISTRY[kind]
    except KeyError:
        raise PermanentError(
            f"unknown connector kind {kind!r}; expected one of {', '.join(KINDS)}"
        ) from None
    module_name, _, attr = dotted.rpartition(".")
    return getattr(import_module(module_name), attr)


def connector_for(
    kind: str,
    *,
    base_url: str,
    credentials: dict,
    settings: dict,
    timeout: tuple[float, float] | None = None,
) -> Connector:
    """A ready connector; raises PermanentError for an unknown kind or a bad configuration."""
    cls = connector_class(kind)
    kwargs = {"timeout": timeout} if timeout else {}
    return cls(base_url=base_url, credentials=credentials, settings=settings, **kwargs)


def validate_config(kind: str, credentials: dict, settings: dict) -> dict[str, str]:
    """Field -> error message for this kind's credentials and settings ({} when valid)."""
    if kind not in _REGISTRY:
        return {"kind": f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"}
    return connector_class(kind).validate(credentials, settings)
