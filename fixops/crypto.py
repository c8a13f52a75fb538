"""Encryption at rest with MultiFernet: the first key of FIXOPS_ENCRYPTION_KEYS encrypts, every
key decrypts, so keys rotate by prepending a new one and re-encrypting (see the operations guide).
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.core.checks import Error, register


def _keys() -> tuple[str, ...]:
    return tuple(settings.FIXOPS_ENCRYPTION_KEYS)


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(data: bytes) -> bytes:
    """Encrypt `data` under the primary key."""
    return _multifernet(_keys()).encrypt(data)


def decrypt(token: bytes) -> bytes:
    """Decrypt with whichever configured key made `token` (InvalidToken if none did)."""
    return _multifernet(_keys()).decrypt(token)


def rotate(token: bytes) -> bytes:
    """Re-encrypt `token` under the primary key."""
    return _multifernet(_keys()).rotate(token)


@register()
def check_encryption_keys(app_configs, **kwargs) -> list[Error]:
    """Malformed keys fail `manage.py check` (and so start-up), not the first decrypt."""
    errors = []
    for position, key in enumerate(settings.FIXOPS_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIXOPS_ENCRYPTION_KEYS entry {position} is not a valid Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import Fernet;"
                    " print(Fernet.generate_key().decode())'",
                    id="fixops.E001",
                )
            )
    if not settings.FIXOPS_ENCRYPTION_KEYS:
        errors.append(Error("FIXOPS_ENCRYPTION_KEYS is empty.", id="fixops.E002"))
    return errors
