"""Sign in-toto statements into DSSE envelopes, and verify envelopes against a set of keys.

Verification needs no database: `verify_envelope` takes the keys it may trust, so the
management command checks exported bundles offline with the same code as the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apps.evidence.canonical import canonical_bytes, sha256_hex
from apps.evidence.dsse import (
    PAYLOAD_TYPE,
    Envelope,
    MalformedEnvelope,
    Signature,
    pae,
    parse_envelope,
)
from apps.evidence.keys import PublicKey, SigningKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


class VerificationError(Exception):
    """Verification failed; `code` is stable: malformed, unknown_key, bad_signature,
    digest_mismatch, key_retired."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedBundle:
    payload: bytes
    envelope: bytes
    keyid: str
    algorithm: str

    @property
    def payload_digest(self) -> str:
        return sha256_hex(self.payload)

    @property
    def envelope_digest(self) -> str:
        return sha256_hex(self.envelope)


@dataclass(frozen=True)
class Verified:
    keyid: str
    algorithm: str
    statement: dict[str, Any]
    payload_digest: str
    signed_at: datetime | None


def sign_document(
    document: Any, key: SigningKey, *, payload_type: str = PAYLOAD_TYPE
) -> SignedBundle:
    """Serialise `document` canonically, sign its PAE, and return the envelope bytes."""
    payload = canonical_bytes(document)
    signature = Signature(key.keyid, key.sign(pae(payload_type, payload)))
    envelope = Envelope(payload, payload_type, (signature,))
    return SignedBundle(payload, envelope.to_bytes(), key.keyid, key.algorithm)


def signed_time(document: dict[str, Any]) -> datetime | None:
    """When the document says it was signed (VSA timeVerified; checkpoint or manifest time)."""
    if not isinstance(document, dict):
        return None
    predicate = document.get("predicate")
    predicate = predicate if isinstance(predicate, dict) else {}
    value = predicate.get("timeVerified") or predicate.get("time") or document.get("time")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def verify_envelope(
    data: bytes,
    keys: Mapping[str, PublicKey],
    *,
    expected_digest: str | None = None,
    payload_type: str = PAYLOAD_TYPE,
) -> Verified:
    """Check `data` (DSSE JSON) against `keys` by keyid; raise VerificationError with the reason.

    The keyid only selects the key: a signature counts only if the key with that keyid
    verifies it, so a changed keyid fails as surely as a changed signature.
    """
    if expected_digest is not None and sha256_hex(data) != expected_digest:
        raise VerificationError(
            "digest_mismatch",
            f"the envelope's sha256 is {sha256_hex(data)}, the record says {expected_digest}",
        )
    try:
        envelope = parse_envelope(data)
    except MalformedEnvelope as exc:
        raise VerificationError("malformed", str(exc)) from None
    if envelope.payload_type != payload_type:
        raise VerificationError(
            "malformed", f"payloadType is {envelope.payload_type!r}, expected {payload_type!r}"
        )
    failure: VerificationError | None = None
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            failure = failure or VerificationError(
                "unknown_key", f"no trusted key has keyid {signature.keyid!r}"
            )
            continue
        if not key.verify(signature.sig, envelope.pae()):
            failure = VerificationError(
                "bad_signature", f"the signature does not verify with key {key.keyid}"
            )
            continue
        document = _document(envelope.payload, payload_type)
        when = signed_time(document)
        if key.retired_at is not None and (when is None or when > key.retired_at):
            failure = VerificationError(
                "key_retired",
                f"key {key.keyid} was retired at {key.retired_at.isoformat()}; the bundle says "
                f"it was signed at {when.isoformat() if when else 'an unknown time'}",
            )
            continue
        return Verified(key.keyid, key.algorithm, document, sha256_hex(envelope.payload), when)
    raise failure or VerificationError("malformed", "no signatures")


def _document(payload: bytes, payload_type: str) -> dict[str, Any]:
    try:
        document = json.loads(payload)
    except ValueError:
        raise VerificationError("malformed", "the signed payload is not JSON") from None
    if not isinstance(document, dict):
        raise VerificationError("malformed", "the signed payload is not a JSON object")
    if payload_type == PAYLOAD_TYPE:
        if document.get("_type") != STATEMENT_TYPE:
            raise VerificationError("malformed", f"_type is not {STATEMENT_TYPE}")
        subjects = document.get("subject")
        if not isinstance(subjects, list) or not subjects:
            raise VerificationError("malformed", "the statement has no subject")
        for subject in subjects:
            if not isinstance(subject, dict) or not isinstance(subject.get("digest"), dict):
                raise VerificationError("malformed", "every subject needs a digest")
    return document
