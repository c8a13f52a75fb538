"""Microsoft Teams through a Workflows webhook, posting Adaptive Cards."""
