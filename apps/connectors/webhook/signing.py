"""Standard Webhooks v1 signing (https://www.standardwebhooks.com/, spec v1.0.0).

The signed content is "{webhook-id}.{webhook-timestamp}.{raw body}"; the signature is
"v1," + base64(HMAC-SHA256(key, content)) where key is the base64-decoded part of the
secret after "whsec_". Secrets are 24-64 random bytes; FixOps generates 32.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    """A new signing secret, "whsec_" + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a "whsec_…" secret; ValueError when it is not one."""
    if not isinstance(secret, str) or not secret.startswith(PREFIX):
        raise ValueError("must start with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be whsec_ followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError("must hold 24 to 64 bytes of key")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for these exact bytes."""
    if "." in message_id:
        raise ValueError("a webhook-id must not contain '.'")
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
