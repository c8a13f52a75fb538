"""The inbound half of an integration: signed webhook deliveries, kept in an inbox and applied
by a worker, and the reconciliation that repairs what webhooks missed."""
