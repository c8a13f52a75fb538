"""DSSE envelopes (secure-systems-lab/dsse v1): the pre-authentication encoding that is signed,
and parsing with clear errors.

DSSE signs raw payload bytes, so the payload needs no canonicalisation to verify; FixOps still
writes the payload and the envelope as RFC 8785 JSON so the stored bytes are reproducible.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from apps.evidence.canonical import canonical_bytes

PAYLOAD_TYPE = "application/vnd.in-toto+json"


class MalformedEnvelope(ValueError):
    """The bytes are not a DSSE envelope FixOps can check."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body (byte lengths)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_bytes(self) -> bytes:
        """The envelope as canonical JSON, standard base64 (what is stored and served)."""
        return canonical_bytes(
            {
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                    for s in self.signatures
                ],
            }
        )


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedEnvelope(f"{field} must be a base64 string")
    try:
        # DSSE allows standard or URL-safe base64; translate the URL-safe alphabet first.
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEnvelope(f"{field} is not valid base64") from None


def parse_envelope(data: bytes) -> Envelope:
    """Parse DSSE JSON bytes, or raise MalformedEnvelope naming what is wrong."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelope(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedEnvelope("the envelope must be a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise MalformedEnvelope("payloadType is missing")
    payload = _b64(document.get("payload"), "payload")
    raw_signatures = document.get("signatures")
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise MalformedEnvelope("signatures must be a non-empty list")
    signatures = []
    for position, entry in enumerate(raw_signatures):
        if not isinstance(entry, dict):
            raise MalformedEnvelope(f"signatures[{position}] must be an object")
        keyid = entry.get("keyid", "")
        if not isinstance(keyid, str):
            raise MalformedEnvelope(f"signatures[{position}].keyid must be a string")
        signatures.append(Signature(keyid=keyid, sig=_b64(entry.get("sig"), "sig")))
    return Envelope(payload=payload, payload_type=payload_type, signatures=tuple(signatures))
