"""Signing and verification keys.

- One signing key (FIXOPS_EVIDENCE_SIGNING_KEY: a PEM file path or the PEM text): Ed25519, or
  RSA signing RSA-PSS (SHA-256, MGF1, salt = digest length) or PKCS#1 v1.5 with SHA-256,
  chosen by FIXOPS_EVIDENCE_RSA_PADDING.
- Any number of verification keys: the signing key, FIXOPS_EVIDENCE_VERIFICATION_KEYS (public
  PEM files) and every key recorded in the EvidenceKey table (earlier signing keys).
- keyid = sha256 hex of the DER SubjectPublicKeyInfo, so anyone can derive it from the PEM.
- No key configured: development generates an Ed25519 key under var/keys/ (logged loudly);
  production (or DEBUG off) fails `manage.py check` and refuses to sign.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

ED25519 = "ed25519"
RSA_PSS = "rsa-pss-sha256"
RSA_PKCS1 = "rsa-pkcs1v15-sha256"
ALGORITHMS = (ED25519, RSA_PSS, RSA_PKCS1)
RSA_PADDINGS = {"pss": RSA_PSS, "pkcs1v15": RSA_PKCS1}
MIN_RSA_BITS = 2048

PublicKeyType = ed25519.Ed25519PublicKey | rsa.RSAPublicKey
PrivateKeyType = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class UnusableKey(ValueError):
    """A key that cannot be used (unreadable, unsupported type, too small)."""


def keyid_for(public_key: PublicKeyType) -> str:
    """sha256 hex of the DER-encoded SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    algorithm: str  # one of ALGORITHMS; for a bare RSA PEM of unknown padding, "rsa-sha256"
    key: PublicKeyType = field(repr=False)
    pem: str = field(repr=False)
    retired_at: datetime | None = None

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
                return True
            paddings = {RSA_PSS: [_pss()], RSA_PKCS1: [padding.PKCS1v15()]}.get(
                self.algorithm, [_pss(), padding.PKCS1v15()]
            )
            for pad in paddings:
                try:
                    self.key.verify(signature, data, pad, hashes.SHA256())
                    return True
                except InvalidSignature:
                    continue
            return False
        except InvalidSignature:
            return False

    def with_retirement(self, retired_at: datetime | None) -> PublicKey:
        return PublicKey(self.keyid, self.algorithm, self.key, self.pem, retired_at)


@dataclass(frozen=True)
class SigningKey:
    public: PublicKey
    private: PrivateKeyType = field(repr=False)
    source: str = "signing"

    @property
    def keyid(self) -> str:
        return self.public.keyid

    @property
    def algorithm(self) -> str:
        return self.public.algorithm

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private, ed25519.Ed25519PrivateKey):
            return self.private.sign(data)
        pad = _pss() if self.algorithm == RSA_PSS else padding.PKCS1v15()
        return self.private.sign(data, pad, hashes.SHA256())


def _public_pem(key: PublicKeyType) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key(key: PublicKeyType, algorithm: str | None = None) -> PublicKey:
    """Wrap a `cryptography` public key; RSA without an algorithm accepts either padding."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        algorithm = ED25519
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise UnusableKey(f"RSA keys need at least {MIN_RSA_BITS} bits, not {key.key_size}")
        algorithm = algorithm if algorithm in (RSA_PSS, RSA_PKCS1) else "rsa-sha256"
    else:
        raise UnusableKey(f"unsupported key type {type(key).__name__}; use Ed25519 or RSA")
    return PublicKey(keyid_for(key), algorithm, key, _public_pem(key))


def signing_key(private: PrivateKeyType, *, rsa_padding: str = "pss", source: str = "signing"):
    """Wrap a private key; RSA signs with the chosen padding ("pss" or "pkcs1v15")."""
    if rsa_padding not in RSA_PADDINGS:
        raise UnusableKey(f"FIXOPS_EVIDENCE_RSA_PADDING must be pss or pkcs1v15, not {rsa_padding}")
    if not isinstance(private, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise UnusableKey(f"unsupported key type {type(private).__name__}; use Ed25519 or RSA")
    algorithm = ED25519 if isinstance(private, ed25519.Ed25519PrivateKey) else None
    return SigningKey(
        public_key(private.public_key(), algorithm or RSA_PADDINGS[rsa_padding]), private, source
    )


def read_material(value: str) -> bytes:
    """PEM text (as is, or with literal \\n as environment variables carry it) or a file path."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.replace("\\n", "\n").encode("ascii")
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise UnusableKey(f"cannot read key file {text}: {exc.strerror}") from None


def load_private_pem(data: bytes, *, rsa_padding: str = "pss", source: str = "signing"):
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UnusableKey(f"not an unencrypted PEM private key: {exc}") from None
    return signing_key(private, rsa_padding=rsa_padding, source=source)  # type: ignore[arg-type]


def load_public_pem(data: bytes, algorithm: str | None = None) -> PublicKey:
    """A public key from PEM (a private-key PEM yields its public half)."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise UnusableKey(f"not a PEM public key: {exc}") from None
    return public_key(key, algorithm)  # type: ignore[arg-type]


def generate(algorithm: str = ED25519) -> SigningKey:
    """A fresh signing key (tests, dev mode and `rotate_evidence_keys --generate`)."""
    if algorithm == ED25519:
        return signing_key(ed25519.Ed25519PrivateKey.generate())
    if algorithm in (RSA_PSS, RSA_PKCS1):
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        return signing_key(private, rsa_padding="pss" if algorithm == RSA_PSS else "pkcs1v15")
    raise UnusableKey(f"unknown algorithm {algorithm}; choose one of {', '.join(ALGORITHMS)}")


def private_pem(key: SigningKey) -> bytes:
    return key.private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dev_key_path() -> Path:
    return Path(settings.VAR_DIR) / "keys" / "evidence-dev-ed25519.pem"


def _dev_key() -> SigningKey:
    path = dev_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(private_pem(generate(ED25519)))
    key = load_private_pem(path.read_bytes(), source="dev")
    logger.warning(
        "Evidence is signed with a DEVELOPMENT key generated at %s (keyid %s). Set "
        "FIXOPS_EVIDENCE_SIGNING_KEY before relying on these bundles.",
        path,
        key.keyid,
    )
    return key


@lru_cache(maxsize=8)
def _configured_signer(value: str, rsa_padding: str, secrets_required: bool) -> SigningKey:
    if value:
        return load_private_pem(read_material(value), rsa_padding=rsa_padding)
    if secrets_required:
        raise ImproperlyConfigured(
            "FIXOPS_EVIDENCE_SIGNING_KEY is not set; FixOps does not sign evidence with a "
            "default key in production. See docs/evidence.md."
        )
    return _dev_key()


def signer() -> SigningKey:
    """The key that signs now (cached per configuration)."""
    return _configured_signer(
        settings.FIXOPS_EVIDENCE_SIGNING_KEY,
        settings.FIXOPS_EVIDENCE_RSA_PADDING,
        bool(getattr(settings, "SECRETS_REQUIRED", False)),
    )


@lru_cache(maxsize=8)
def _configured_verifiers(paths: tuple[str, ...]) -> tuple[PublicKey, ...]:
    return tuple(load_public_pem(read_material(path)) for path in paths)


def configured_verifiers() -> tuple[PublicKey, ...]:
    """FIXOPS_EVIDENCE_VERIFICATION_KEYS as public keys."""
    return _configured_verifiers(tuple(settings.FIXOPS_EVIDENCE_VERIFICATION_KEYS))


@register()
def check_evidence_keys(app_configs, **kwargs) -> list[Error]:
    """No signing key in production, or a key that cannot be loaded, fails `manage.py check`."""
    errors = []
    value = settings.FIXOPS_EVIDENCE_SIGNING_KEY
    if not value and getattr(settings, "SECRETS_REQUIRED", False):
        errors.append(
            Error(
                "FIXOPS_EVIDENCE_SIGNING_KEY is not set; evidence has no default key in "
                "production (FIXOPS_ENV=production or DEBUG off).",
                hint="python manage.py rotate_evidence_keys --generate-signing-key key.pem",
                id="evidence.E001",
            )
        )
    if settings.FIXOPS_EVIDENCE_RSA_PADDING not in RSA_PADDINGS:
        errors.append(
            Error("FIXOPS_EVIDENCE_RSA_PADDING must be pss or pkcs1v15.", id="evidence.E003")
        )
    elif value:
        try:
            load_private_pem(read_material(value), rsa_padding=settings.FIXOPS_EVIDENCE_RSA_PADDING)
        except UnusableKey as exc:
            errors.append(Error(f"FIXOPS_EVIDENCE_SIGNING_KEY: {exc}", id="evidence.E002"))
    for path in settings.FIXOPS_EVIDENCE_VERIFICATION_KEYS:
        try:
            load_public_pem(read_material(path))
        except UnusableKey as exc:
            errors.append(Error(f"FIXOPS_EVIDENCE_VERIFICATION_KEYS: {exc}", id="evidence.E004"))
    return errors
