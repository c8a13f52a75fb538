"""Fake Standard Webhooks receiver: verifies every delivery the way the spec tells consumers to
(https://www.standardwebhooks.com/ v1.0.0, and the reference libraries' verify; digest
llm-and-channels.md §5), written apart from apps/connectors/webhook/signing.py:

- webhook-id, webhook-timestamp and webhook-signature present (400 otherwise);
- the timestamp within ±5 minutes of now (the reference library's tolerance; 400 otherwise);
- the signature header is a space-delimited list of "v1,<base64>"; any entry equal (constant
  time) to base64(HMAC-SHA256(base64decode(secret without "whsec_"), "id.timestamp.body"))
  over the raw body passes (401 otherwise);
- the body is JSON {type, timestamp, data};
- a webhook-id seen before is acknowledged (200) but not stored again (deduplication).
Accepted events answer 204 and are kept in `events`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from tests.fakes.base import FakeServer, RecordedRequest, Response

TOLERANCE_SECONDS = 5 * 60


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class FakeWebhookReceiver(FakeServer):
    name = "webhook-receiver"
    routes = (("POST", r"/hooks/fixops", "receive"),)

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or new_secret()
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"events": [], "seen": set(), "rejected": []}

    def config(self, **settings) -> dict:
        return {
            "kind": "webhook",
            "base_url": f"{self.url}/hooks/fixops",
            "credentials": {"signing_secret": self.secret},
            "settings": {**settings},
        }

    @property
    def events(self) -> list[dict]:
        with self.lock:
            return list(self.state["events"])

    @property
    def rejected(self) -> list[str]:
        with self.lock:
            return list(self.state["rejected"])

    def _reject(self, status: int, why: str) -> Response:
        with self.lock:
            self.state["rejected"].append(why)
        return Response(status, {"error": why})

    def receive(self, req: RecordedRequest) -> Response:
        msg_id = req.header("webhook-id")
        stamp = req.header("webhook-timestamp")
        signatures = req.header("webhook-signature")
        if not (msg_id and stamp and signatures):
            return self._reject(400, "missing required headers")
        try:
            sent_at = int(stamp)
        except ValueError:
            return self._reject(400, "invalid timestamp")
        if abs(time.time() - sent_at) > TOLERANCE_SECONDS:
            return self._reject(400, "timestamp outside the tolerance")
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        signed = msg_id.encode() + b"." + stamp.encode() + b"." + req.body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
        valid = False
        for entry in signatures.split(" "):
            version, _, value = entry.partition(",")
            if version == "v1" and hmac.compare_digest(value.encode(), expected):
                valid = True
        if not valid:
            return self._reject(401, "no matching signature")
        try:
            event = json.loads(req.body)
        except ValueError:
            return self._reject(400, "body is not JSON")
        if not {"type", "timestamp", "data"} <= set(event):
            return self._reject(400, "body lacks type, timestamp or data")
        with self.lock:
            if msg_id in self.state["seen"]:
                return Response(200, None)
            self.state["seen"].add(msg_id)
            self.state["events"].append({"id": msg_id, **event})
        return Response(204, None)
