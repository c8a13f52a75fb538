"""Confluence pages connector (decision reports)."""

from apps.connectors.confluence.client import ConfluenceConnector

__all__ = ["ConfluenceConnector"]
