"""Jira Cloud and Jira Data Center connector."""
