"""Jira Cloud and Jira Data Center connector."""

from apps.connectors.jira.client import JiraConnector

__all__ = ["JiraConnector"]
