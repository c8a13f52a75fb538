"""Encryption at rest with MultiFernet: the first key of a list encrypts, every key decrypts,
so keys rotate by prepending a new one and re-encrypting (see the operations guide).

`Keyring` reads its key list at call time (settings overrides apply). The platform ring over
FIXOPS_ENCRYPTION_KEYS backs the module functions; evidence has its own ring
(apps/evidence/encryption.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.checks import Error, register


@lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = [Fernet(key) for key in keys]
    return MultiFernet(fernets), fernets[0]


class Keyring:
    def __init__(self, keys: Callable[[], Sequence[str]]):
        self._keys = keys

    def _ring(self) -> tuple[MultiFernet, Fernet]:
        return _fernets(tuple(self._keys()))

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt `data` under the primary key."""
        return self._ring()[0].encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        """Decrypt with whichever key made `token` (InvalidToken if none did)."""
        return self._ring()[0].decrypt(token)

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt `token` under the primary key."""
        return self._ring()[0].rotate(token)

    def is_current(self, token: bytes) -> bool:
        """True when the primary key alone decrypts `token` (nothing to rotate)."""
        try:
            self._ring()[1].decrypt(token)
        except InvalidToken:
            return False
        return True


platform = Keyring(lambda: settings.FIXOPS_ENCRYPTION_KEYS)
encrypt, decrypt, rotate = platform.encrypt, platform.decrypt, platform.rotate


def malformed_keys(setting: str, keys: Sequence[str], error_id: str) -> list[Error]:
    """One check error per entry of `setting` that is not a Fernet key."""
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"{setting} entry {position} is not a valid Fernet key.",
                    hint="Generate one with: python -c 'from cryptography.fernet import Fernet;"
                    " print(Fernet.generate_key().decode())'",
                    id=error_id,
                )
            )
    return errors


@register()
def check_encryption_keys(app_configs, **kwargs) -> list[Error]:
    """Malformed keys fail `manage.py check` (and so start-up), not the first decrypt."""
    errors = malformed_keys(
        "FIXOPS_ENCRYPTION_KEYS", settings.FIXOPS_ENCRYPTION_KEYS, "fixops.E001"
    )
    if not settings.FIXOPS_ENCRYPTION_KEYS:
        errors.append(Error("FIXOPS_ENCRYPTION_KEYS is empty.", id="fixops.E002"))
    return errors
