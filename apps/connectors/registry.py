"""Connector kinds: the one list of vendors FixOps can talk to.

Everything else derives from `SPECS`: the model's `kind` choices (`Kind`), the tracker kinds
that open tickets for findings, the API's and admin's choices, and the connector class each
kind resolves to (by dotted path, imported only when used). Adding a vendor is one line here
plus its package (`apps/connectors/<vendor>/client.py`, `mapping.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.db import models

from apps.connectors.base import Connector
from fixops.platform.http.errors import PermanentError


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    connector: str  # dotted path of the Connector subclass
    # Trackers open one ticket per finding (or group of findings); chat and wiki kinds carry
    # decisions and notifications only.
    tracker: bool


SPECS: tuple[KindSpec, ...] = (
    KindSpec("jira", "Jira", "apps.connectors.jira.client.JiraConnector", tracker=True),
    KindSpec(
        "servicenow",
        "ServiceNow",
        "apps.connectors.servicenow.client.ServiceNowConnector",
        tracker=True,
    ),
    KindSpec("gitlab", "GitLab", "apps.connectors.gitlab.client.GitLabConnector", tracker=True),
    KindSpec("github", "GitHub", "apps.connectors.github.client.GitHubConnector", tracker=True),
    KindSpec(
        "azure_devops",
        "Azure DevOps",
        "apps.connectors.azure_devops.client.AzureDevOpsConnector",
        tracker=True,
    ),
    KindSpec("slack", "Slack", "apps.connectors.slack.client.SlackConnector", tracker=False),
    KindSpec(
        "confluence",
        "Confluence",
        "apps.connectors.confluence.client.ConfluenceConnector",
        tracker=False,
    ),
    # Notification channels: they carry what notification rules route to them.
    KindSpec(
        "teams", "Microsoft Teams", "apps.connectors.teams.client.TeamsConnector", tracker=False
    ),
    KindSpec("email", "E-mail", "apps.connectors.email.client.EmailConnector", tracker=False),
    KindSpec(
        "webhook",
        "Signed webhook (Standard Webhooks)",
        "apps.connectors.webhook.client.WebhookConnector",
        tracker=False,
    ),
)

_BY_KIND: dict[str, KindSpec] = {spec.kind: spec for spec in SPECS}
KINDS: tuple[str, ...] = tuple(_BY_KIND)
TRACKER_KINDS: frozenset[str] = frozenset(spec.kind for spec in SPECS if spec.tracker)
# The choices of Integration.kind, and names for code that means one vendor (Kind.SLACK).
Kind = models.TextChoices("Kind", [(spec.kind.upper(), (spec.kind, spec.label)) for spec in SPECS])


def connector_class(kind: str) -> type[Connector]:
    """The Connector subclass registered for `kind`."""
    try:
        dotted = _BY_KIND[kind].connector
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
    if kind not in _BY_KIND:
        return {"kind": f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}"}
    return connector_class(kind).validate(credentials, settings)
