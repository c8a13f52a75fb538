"""Signing and verification: every key type, single-byte tampering, interop with
securesystemslib's DSSE implementation, PAE, keyids, retired keys."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from apps.evidence.canonical import canonical_bytes
from apps.evidence.dsse import PAYLOAD_TYPE, MalformedEnvelope, pae, parse_envelope
from apps.evidence.keys import (
    ALGORITHMS,
    ED25519,
    RSA_PKCS1,
    RSA_PSS,
    UnusableKey,
    generate,
    keyid_for,
    load_public_pem,
    read_material,
)
from apps.evidence.signing import VerificationError, sign_document, verify_envelope

STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "scan/1/sarif", "digest": {"sha256": "ab" * 32}}],
    "predicateType": "https://slsa.dev/verification_summary/v1",
    "predicate": {"timeVerified": "2026-01-01T00:00:00.000000Z", "verificationResult": "PASSED"},
}


@pytest.fixture(scope="module", params=ALGORITHMS)
def key(request):
    return generate(request.param)


def test_pae_matches_the_dsse_spec():
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    # Lengths are byte lengths, not character counts.
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_keyid_is_the_sha256_of_the_der_public_key(key):
    der = key.public.key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key.keyid == hashlib.sha256(der).hexdigest() == keyid_for(key.public.key)
    assert load_public_pem(key.public.pem.encode()).keyid == key.keyid


def test_round_trip_for_every_key_type(key):
    signed = sign_document(STATEMENT, key)
    verified = verify_envelope(signed.envelope, {key.keyid: key.public})
    assert verified.statement == STATEMENT
    assert verified.keyid == key.keyid
    assert verified.payload_digest == signed.payload_digest
    assert json.loads(signed.envelope)["payloadType"] == PAYLOAD_TYPE
    # The envelope and payload are RFC 8785 canonical: re-serialising changes nothing.
    assert canonical_bytes(json.loads(signed.envelope)) == signed.envelope


def _flip(text: str, position: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    swapped = alphabet[(alphabet.index(text[position]) + 1) % 64]
    return text[:position] + swapped + text[position + 1 :]


@pytest.mark.parametrize("algorithm", [ED25519, RSA_PSS])
def test_any_changed_byte_fails(algorithm):
    key = generate(algorithm)
    keys = {key.keyid: key.public}
    signed = sign_document(STATEMENT, key)
    document = json.loads(signed.envelope)
    payload = base64.b64decode(document["payload"])
    signature = base64.b64decode(document["signatures"][0]["sig"])
    for position in range(0, len(payload), 7):
        changed = bytearray(payload)
        changed[position] ^= 0x01
        tampered = dict(document, payload=base64.b64encode(bytes(changed)).decode())
        with pytest.raises(VerificationError) as caught:
            verify_envelope(json.dumps(tampered).encode(), keys)
        assert caught.value.code == "bad_signature"
    for position in range(len(signature)):
        changed = bytearray(signature)
        changed[position] ^= 0x80
        sigs = [{"keyid": key.keyid, "sig": base64.b64encode(bytes(changed)).decode()}]
        with pytest.raises(VerificationError) as caught:
            verify_envelope(json.dumps(dict(document, signatures=sigs)).encode(), keys)
        assert caught.value.code == "bad_signature"
    keyid = document["signatures"][0]["keyid"]
    for position in range(len(keyid)):
        changed_id = (
            keyid[:position] + ("0" if keyid[position] != "0" else "1") + keyid[position + 1 :]
        )
        sigs = [{"keyid": changed_id, "sig": document["signatures"][0]["sig"]}]
        with pytest.raises(VerificationError) as caught:
            verify_envelope(json.dumps(dict(document, signatures=sigs)).encode(), keys)
        assert caught.value.code == "unknown_key"
    with pytest.raises(VerificationError) as caught:
        verify_envelope(signed.envelope, keys, expected_digest="0" * 64)
    assert caught.value.code == "digest_mismatch"


def test_payload_type_is_authenticated():
    key = generate(ED25519)
    document = json.loads(sign_document(STATEMENT, key).envelope)
    document["payloadType"] = "application/vnd.other+json"
    with pytest.raises(VerificationError) as caught:
        verify_envelope(
            json.dumps(document).encode(),
            {key.keyid: key.public},
            payload_type="application/vnd.other+json",
        )
    assert caught.value.code == "bad_signature"


def _sslib_key(key):
    return SSlibKey.from_crypto(key.public.key, keyid=key.keyid)


@pytest.mark.parametrize("algorithm", [ED25519, RSA_PSS, RSA_PKCS1])
def test_securesystemslib_verifies_our_envelope(algorithm):
    key = generate(algorithm)
    signed = sign_document(STATEMENT, key)
    envelope = SslibEnvelope.from_dict(json.loads(signed.envelope))
    sslib_key = _sslib_key(key)
    if algorithm == RSA_PKCS1:
        sslib_key = SSlibKey(key.keyid, "rsa", "rsa-pkcs1v15-sha256", sslib_key.keyval)
    accepted = envelope.verify([sslib_key], 1)
    assert key.keyid in accepted
    assert envelope.pae() == pae(PAYLOAD_TYPE, signed.payload)
    # And a tampered envelope is refused by it too.
    envelope.payload = envelope.payload.replace(b"PASSED", b"FAILED")
    with pytest.raises(Exception, match="threshold|verif"):
        envelope.verify([sslib_key], 1)


def test_we_verify_an_envelope_signed_by_securesystemslib():
    key = generate(ED25519)
    signer = CryptoSigner(key.private, _sslib_key(key))
    envelope = SslibEnvelope(canonical_bytes(STATEMENT), PAYLOAD_TYPE, {})
    envelope.sign(signer)
    data = json.dumps(envelope.to_dict()).encode()
    assert verify_envelope(data, {key.keyid: key.public}).statement == STATEMENT


def test_retired_key_verifies_older_signatures_only():
    key = generate(ED25519)
    signed = sign_document(STATEMENT, key)  # signed "at" 2026-01-01
    before = key.public.with_retirement(datetime(2026, 6, 1, tzinfo=UTC))
    assert verify_envelope(signed.envelope, {key.keyid: before}).keyid == key.keyid
    after = key.public.with_retirement(datetime(2025, 12, 31, tzinfo=UTC))
    with pytest.raises(VerificationError) as caught:
        verify_envelope(signed.envelope, {key.keyid: after})
    assert caught.value.code == "key_retired"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"payload": "eA==", "signatures": []}', "payloadType"),
        (b'{"payloadType": "t", "payload": 5, "signatures": []}', "payload must be"),
        (b'{"payloadType": "t", "payload": "!!", "signatures": []}', "not valid base64"),
        (b'{"payloadType": "t", "payload": "eA==", "signatures": []}', "non-empty list"),
        (b'{"payloadType": "t", "payload": "eA==", "signatures": [1]}', "must be an object"),
        (
            b'{"payloadType": "t", "payload": "eA==", "signatures": [{"keyid": 1, "sig": ""}]}',
            "keyid must be",
        ),
    ],
)
def test_malformed_envelopes_are_named(data, message):
    with pytest.raises(MalformedEnvelope, match=message):
        parse_envelope(data)
    with pytest.raises(VerificationError) as caught:
        verify_envelope(data, {})
    assert caught.value.code == "malformed"


def test_url_safe_base64_is_accepted():
    key = generate(ED25519)
    document = json.loads(sign_document(STATEMENT, key).envelope)
    document["payload"] = document["payload"].replace("+", "-").replace("/", "_").rstrip("=")
    sig = document["signatures"][0]["sig"]
    document["signatures"][0]["sig"] = sig.replace("+", "-").replace("/", "_")
    assert verify_envelope(json.dumps(document).encode(), {key.keyid: key.public})


def test_payload_must_be_an_in_toto_statement():
    key = generate(ED25519)
    for document, message in (
        ({"_type": "other"}, "_type"),
        (dict(STATEMENT, subject=[]), "no subject"),
        (dict(STATEMENT, subject=[{"name": "x"}]), "digest"),
        ([1], "JSON object"),
    ):
        signed = sign_document(document, key)
        with pytest.raises(VerificationError, match=message):
            verify_envelope(signed.envelope, {key.keyid: key.public})


def test_unusable_keys_are_refused(tmp_path):
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(UnusableKey, match="2048"):
        load_public_pem(pem)
    curve = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(UnusableKey, match="unsupported"):
        load_public_pem(
            curve.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    with pytest.raises(UnusableKey, match="not a PEM"):
        load_public_pem(b"garbage")
    with pytest.raises(UnusableKey, match="cannot read"):
        read_material(str(tmp_path / "missing.pem"))
    with pytest.raises(UnusableKey, match="unknown algorithm"):
        generate("dsa")
    key = generate(ED25519)
    escaped = key.public.pem.replace("\n", "\\n")
    assert load_public_pem(read_material(escaped)).keyid == key.keyid
