"""The layer under every app: audit log, bulk writer, guarded outbound HTTP, keyring, domain
errors, events and API plumbing. Nothing here imports an app (the import contracts in
pyproject.toml hold it to that)."""
