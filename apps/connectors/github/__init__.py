"""GitHub issues and check runs connector."""
