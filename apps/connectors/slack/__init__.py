"""Slack connector (Web API bot token or incoming webhook)."""

from apps.connectors.slack.client import SlackConnector

__all__ = ["SlackConnector"]
