"""Confluence pages connector (decision reports)."""
