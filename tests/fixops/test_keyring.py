import pytest
from cryptography.fernet import Fernet, InvalidToken

from fixops.platform import keyring


def test_round_trip_and_rotation(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIXOPS_ENCRYPTION_KEYS = [old]
    sealed = keyring.encrypt(b"jira api token")
    settings.FIXOPS_ENCRYPTION_KEYS = [new, old]
    assert keyring.decrypt(sealed) == b"jira api token"
    rotated = keyring.rotate(sealed)
    settings.FIXOPS_ENCRYPTION_KEYS = [new]
    assert keyring.decrypt(rotated) == b"jira api token"
    with pytest.raises(InvalidToken):
        keyring.decrypt(sealed)


def test_malformed_key_fails_the_system_check(settings):
    settings.FIXOPS_ENCRYPTION_KEYS = ["not-a-key"]
    errors = keyring.check_encryption_keys(None)
    assert [e.id for e in errors] == ["fixops.E001"]
    settings.FIXOPS_ENCRYPTION_KEYS = []
    assert [e.id for e in keyring.check_encryption_keys(None)] == ["fixops.E002"]
