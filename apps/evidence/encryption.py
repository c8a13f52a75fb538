"""Bundles at rest: MultiFernet over FIXOPS_EVIDENCE_ENCRYPTION_KEYS, or over the platform's
FIXOPS_ENCRYPTION_KEYS when that list is empty. The first key encrypts, every key decrypts;
`rotate_evidence_keys` re-encrypts stored bundles under the first key."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.checks import Error, register


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS or settings.FIXOPS_ENCRYPTION_KEYS)


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


def encrypt(data: bytes) -> bytes:
    return _fernets(_keys())[0].encrypt(data)


def decrypt(token: bytes) -> bytes:
    """Plaintext, or cryptography's InvalidToken when no configured key made `token`."""
    return _fernets(_keys())[0].decrypt(token)


def is_current(token: bytes) -> bool:
    """True when the primary key alone decrypts `token` (nothing to rotate)."""
    try:
        _fernets(_keys())[1].decrypt(token)
    except InvalidToken:
        return False
    return True


def rotate(token: bytes) -> bytes:
    return _fernets(_keys())[0].rotate(token)


@register()
def check_evidence_encryption(app_configs, **kwargs) -> list[Error]:
    errors = []
    for position, key in enumerate(settings.FIXOPS_EVIDENCE_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIXOPS_EVIDENCE_ENCRYPTION_KEYS entry {position} is not a valid Fernet key.",
                    id="evidence.E005",
                )
            )
    return errors
