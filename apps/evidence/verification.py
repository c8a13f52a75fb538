"""Offline verification of a bundle file or of an export zip (what `verify_evidence` runs).

Needs no database when public keys are given; an export zip carries its own public keys and a
signed manifest. Trusting a zip's own keys proves integrity, not origin: compare the printed
keyids with the ones your FixOps publishes at /api/v1/evidence/keys, or pass --public-key.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from apps.evidence.keys import PublicKey, UnusableKey, load_public_pem
from apps.evidence.services import EXPORT_FORMAT, MANIFEST_TYPE
from apps.evidence.signing import VerificationError, verify_envelope

MAX_MEMBER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    name: str
    ok: bool
    code: str = "valid"
    message: str = ""
    keyid: str = ""


def _zip_keys(archive: zipfile.ZipFile) -> dict[str, PublicKey]:
    try:
        listed = json.loads(_read(archive, "keys.json"))
    except (KeyError, ValueError):
        raise VerificationError("malformed", "the export has no readable keys.json") from None
    keys = {}
    for entry in listed if isinstance(listed, list) else []:
        try:
            key = load_public_pem(_read(archive, entry["file"]))
        except (KeyError, TypeError, UnusableKey) as exc:
            raise VerificationError("malformed", f"keys.json entry {entry!r}: {exc}") from None
        if key.keyid != entry.get("keyid"):
            raise VerificationError(
                "malformed", f"{entry['file']} does not have keyid {entry['keyid']}"
            )
        retired = entry.get("retiredAt")
        when = datetime.fromisoformat(retired.replace("Z", "+00:00")) if retired else None
        keys[key.keyid] = key.with_retirement(when)
    return keys


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise VerificationError("malformed", f"{name} is larger than {MAX_MEMBER_BYTES} bytes")
    return archive.read(info)


def verify_export(path: Path, keys: Mapping[str, PublicKey] | None) -> list[Outcome]:
    """Every bundle of an export zip, against `keys` or (None) the zip's own keys."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        return [Outcome(str(path), False, "malformed", f"not a readable zip: {exc}")]
    with archive:
        try:
            trusted = dict(keys) if keys is not None else _zip_keys(archive)
            manifest_bytes = _read(archive, "manifest.dsse.json")
            manifest = verify_envelope(manifest_bytes, trusted, payload_type=MANIFEST_TYPE)
        except KeyError:
            return [Outcome("manifest.dsse.json", False, "malformed", "the export has no manifest")]
        except VerificationError as exc:
            return [Outcome("manifest.dsse.json", False, exc.code, exc.message)]
        document = manifest.statement
        if document.get("format") != EXPORT_FORMAT or not isinstance(document.get("bundles"), list):
            return [
                Outcome("manifest.dsse.json", False, "malformed", "not a FixOps export manifest")
            ]
        outcomes = [Outcome("manifest.dsse.json", True, keyid=manifest.keyid)]
        listed = set()
        for entry in document["bundles"]:
            name = str(entry.get("file", ""))
            listed.add(name)
            try:
                data = _read(archive, name)
            except KeyError:
                outcomes.append(
                    Outcome(name, False, "missing", "listed in the manifest, not in the zip")
                )
                continue
            except VerificationError as exc:
                outcomes.append(Outcome(name, False, exc.code, exc.message))
                continue
            outcomes.append(
                _verify_one(name, data, trusted, entry.get("sha256"), entry.get("payloadSha256"))
            )
        for name in archive.namelist():
            if name.startswith("bundles/") and name not in listed:
                outcomes.append(
                    Outcome(name, False, "unlisted", "in the zip but not in the signed manifest")
                )
        return outcomes


def _verify_one(
    name: str,
    data: bytes,
    keys: Mapping[str, PublicKey],
    digest: str | None = None,
    payload_digest: str | None = None,
) -> Outcome:
    try:
        verified = verify_envelope(data, keys, expected_digest=digest)
    except VerificationError as exc:
        return Outcome(name, False, exc.code, exc.message)
    if payload_digest is not None and verified.payload_digest != payload_digest:
        return Outcome(
            name, False, "digest_mismatch", "the payload digest differs from the manifest"
        )
    return Outcome(name, True, keyid=verified.keyid)


def verify_file(path: Path, keys: Mapping[str, PublicKey] | None) -> list[Outcome]:
    """A DSSE bundle file or an export zip; `keys` None means "the zip's keys" for exports."""
    if zipfile.is_zipfile(path):
        return verify_export(path, keys)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [Outcome(str(path), False, "malformed", f"cannot read: {exc.strerror}")]
    if keys is None:
        return [Outcome(str(path), False, "unknown_key", "no public key to verify with")]
    return [_verify_one(str(path), data, keys)]
