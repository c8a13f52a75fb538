"""GitHub issues and check runs connector."""

from apps.connectors.github.client import GitHubConnector

__all__ = ["GitHubConnector"]
