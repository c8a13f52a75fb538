"""GitLab issues connector."""
