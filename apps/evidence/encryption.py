"""Bundles at rest: MultiFernet over FIXOPS_EVIDENCE_ENCRYPTION_KEYS, or over the platform's
FIXOPS_ENCRYPTION_KEYS when that list is empty. The first key encrypts, every key decrypts;
`rotate_evidence_keys` re-encrypts stored bundles under the first key."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register

from fixops.platform.keyring import Keyring, malformed_keys

_ring = Keyring(lambda: settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS or settings.FIXOPS_ENCRYPTION_KEYS)
encrypt, decrypt, rotate, is_current = _ring.encrypt, _ring.decrypt, _ring.rotate, _ring.is_current


@register()
def check_evidence_encryption(app_configs, **kwargs) -> list[Error]:
    return malformed_keys(
        "FIXOPS_EVIDENCE_ENCRYPTION_KEYS", settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS, "evidence.E005"
    )
