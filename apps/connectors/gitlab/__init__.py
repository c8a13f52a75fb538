"""GitLab issues connector."""

from apps.connectors.gitlab.client import GitLabConnector

__all__ = ["GitLabConnector"]
