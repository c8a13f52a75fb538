"""Generic outgoing webhook signed per the Standard Webhooks specification."""
