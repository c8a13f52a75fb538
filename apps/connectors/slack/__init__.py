"""Slack connector (Web API bot token or incoming webhook)."""
