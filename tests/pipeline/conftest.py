"""The gate signs evidence: the evidence fixtures (a fresh signing key, local storage)."""

from tests.evidence.conftest import evidence_settings, signing_key_file

__all__ = ["evidence_settings", "signing_key_file"]
