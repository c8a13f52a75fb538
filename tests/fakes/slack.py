"""Fake Slack: Web API methods we call (auth.test, conversations.info, chat.postMessage,
chat.update, conversations.history with cursor pagination and include_all_metadata) answering
HTTP 200 {"ok": false, "error": …} on failure like the real API, 429 + Retry-After +
"ratelimited", plus an incoming webhook at /services/T…/B…/<secret> with its HTTP status codes
(400 no_text / invalid_payload, 403 invalid_token, 404 no_service, 410 channel_is_archived)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender

WEBHOOK_PATH = "/services/T0FIXOPS/B0FIXOPS/s3cr3tW3bh00k"


class FakeSlack(WebhookSender, FakeServer):
    name = "slack"
    routes = (
        ("POST", r"/api/(?P<method>[a-zA-Z.]+)", "web_api"),
        ("GET", r"/api/(?P<method>[a-zA-Z.]+)", "web_api"),
        ("POST", r"/services/(?P<hook>.+)", "webhook"),
    )

    def __init__(self, *, bot_token: str = "xoxb-fixops", channel: str = "C0FIXOPS") -> None:
        self.bot_token, self.channel = bot_token, channel
        self._ts_lock = threading.Lock()
        self._last_ts = 1_700_000_000.0
        self._ok_false: list[str] = []
        super().__init__()

    def reset_state(self) -> None:
        self.state = {"channels": {self.channel: []}, "webhook": [], "archived": False}

    def config(self, *, webhook: bool = False, **settings) -> dict:
        if webhook:
            return {
                "kind": "slack",
                "base_url": self.url,
                "credentials": {"webhook_url": self.url + WEBHOOK_PATH},
                "settings": {**settings},
            }
        return {
            "kind": "slack",
            "base_url": self.url,
            "credentials": {"bot_token": self.bot_token},
            "settings": {"channel": self.channel, **settings},
        }

    def fail_next_ok_false(self, n: int, error: str) -> None:
        """The next n Web API calls answer HTTP 200 {"ok": false, "error": error}."""
        with self.lock:
            self._ok_false.extend([error] * n)

    def error_response(self, status, message, headers=None):
        error = "ratelimited" if status == 429 else ("internal_error" if status >= 500 else message)
        return Response(status, {"ok": False, "error": error}, headers or {})

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [
                m
                for msgs in self.state["channels"].values()
                for m in msgs
                if ((m.get("metadata") or {}).get("event_payload") or {}).get("reference")
                == reference
            ]

    def messages(self, channel: str | None = None) -> list[dict]:
        with self.lock:
            return list(self.state["channels"][channel or self.channel])

    # -- helpers ---------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        with self._ts_lock:
            self._last_ts += 0.000100
            return f"{self._last_ts:.6f}"

    @staticmethod
    def _args(req: RecordedRequest) -> dict:
        ctype = req.header("Content-Type")
        if "json" in ctype:
            return req.json if isinstance(req.json, dict) else {}
        args = {k: v[-1] for k, v in req.query.items()}
        args.update(req.form)
        for key in ("blocks", "metadata"):
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    args[key] = None
        return args

    @staticmethod
    def _bool(value) -> bool:
        return value is True or str(value).lower() in ("true", "1")

    def _ok(self, **data):
        return json_response(200, {"ok": True, **data})

    def _fail(self, error, **extra):
        return json_response(200, {"ok": False, "error": error, **extra})

    # -- Web API ---------------------------------------------------------------------------------

    def web_api(self, req, method):
        args = self._args(req)
        token = req.header("Authorization").removeprefix("Bearer ") or args.get("token", "")
        if not token:
            return self._fail("not_authed")
        if token != self.bot_token:
            return self._fail("invalid_auth")
        with self.lock:
            if self._ok_false:
                return self._fail(self._ok_false.pop(0))
        handler = {
            "auth.test": self._auth_test,
            "conversations.info": self._conversations_info,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
        }.get(method)
        if handler is None:
            return self._fail("unknown_method")
        with self.lock:
            return handler(args)

    def _auth_test(self, args):
        return self._ok(
            url=f"{self.url}/",
            team="Acme",
            user="fixops",
            team_id="T0FIXOPS",
            user_id="U0FIXOPS",
            bot_id="B0FIXOPS",
        )

    def _channel(self, args):
        channel = args.get("channel")
        if channel not in self.state["channels"]:
            return None
        return self.state["channels"][channel]

    def _conversations_info(self, args):
        if self._channel(args) is None:
            return self._fail("channel_not_found")
        return self._ok(channel={"id": args["channel"], "name": "security", "is_member": True})

    def _valid_content(self, args):
        if not args.get("text") and not args.get("blocks"):
            return "no_text"
        blocks = args.get("blocks")
        if blocks is not None and (
            not isinstance(blocks, list)
            or len(blocks) > 50
            or not all(isinstance(b, dict) and b.get("type") for b in blocks)
        ):
            return "invalid_blocks"
        if len(args.get("text") or "") > 40000:
            return "msg_too_long"
        meta = args.get("metadata")
        if meta is not None and not (
            isinstance(meta, dict)
            and meta.get("event_type")
            and isinstance(meta.get("event_payload"), dict)
        ):
            return "invalid_metadata_format"
        return None

    def _post_message(self, args):
        messages = self._channel(args)
        if messages is None:
            return self._fail("channel_not_found")
        if (problem := self._valid_content(args)) is not None:
            return self._fail(problem)
        thread_ts = args.get("thread_ts")
        if thread_ts and not any(m["ts"] == thread_ts for m in messages):
            return self._fail("thread_not_found")
        message = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0FIXOPS",
            "ts": self._next_ts(),
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
        }
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = next(m for m in messages if m["ts"] == thread_ts)
            parent.setdefault("replies", []).append(message)
        else:
            messages.insert(0, message)  # newest first, like conversations.history
        public = {k: v for k, v in message.items() if k not in ("metadata", "replies")}
        return self._ok(channel=args["channel"], ts=message["ts"], message=public)

    def _update(self, args):
        messages = self._channel(args)
        if messages is None:
            return self._fail("channel_not_found")
        message = next((m for m in messages if m["ts"] == args.get("ts")), None)
        if message is None:
            return self._fail("message_not_found")
        if (problem := self._valid_content(args)) is not None:
            return self._fail(problem)
        for key in ("text", "blocks", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": "U0FIXOPS", "ts": self._next_ts()}
        public = {k: v for k, v in message.items() if k not in ("metadata", "replies")}
        return self._ok(
            channel=args["channel"], ts=message["ts"], text=message["text"], message=public
        )

    def _history(self, args):
        messages = self._channel(args)
        if messages is None:
            return self._fail("channel_not_found")
        inclusive = self._bool(args.get("inclusive"))
        latest, oldest = args.get("latest"), args.get("oldest")
        selected = [
            m
            for m in messages
            if (latest is None or m["ts"] < latest or (inclusive and m["ts"] == latest))
            and (oldest is None or m["ts"] > oldest or (inclusive and m["ts"] == oldest))
        ]
        limit = min(int(args.get("limit") or 100), 999)
        start = int(base64.b64decode(args["cursor"]).decode()) if args.get("cursor") else 0
        page = selected[start : start + limit]
        with_meta = self._bool(args.get("include_all_metadata"))
        out = [
            {k: v for k, v in m.items() if k != "replies" and (with_meta or k != "metadata")}
            for m in page
        ]
        more = start + limit < len(selected)
        cursor = base64.b64encode(str(start + limit).encode()).decode() if more else ""
        return self._ok(messages=out, has_more=more, response_metadata={"next_cursor": cursor})

    # -- incoming webhook ------------------------------------------------------------------------

    def webhook(self, req, hook):
        if "/services/" + hook != WEBHOOK_PATH:
            if hook.startswith("T0FIXOPS/B0FIXOPS/"):
                return Response(403, "invalid_token", {"Content-Type": "text/html"})
            return Response(404, "no_service", {"Content-Type": "text/html"})
        body = req.json
        if not isinstance(body, dict):
            return Response(400, "invalid_payload", {"Content-Type": "text/html"})
        if not body.get("text") and not body.get("blocks"):
            return Response(400, "no_text", {"Content-Type": "text/html"})
        with self.lock:
            if self.state["archived"]:
                return Response(410, "channel_is_archived", {"Content-Type": "text/html"})
            self.state["webhook"].append(body)
        return Response(200, "ok", {"Content-Type": "text/html"})

    # -- interactivity: the sending side ----------------------------------------------------------
    # The Slack app's "Interactivity & Shortcuts" Request URL and its signing secret (app
    # config, Basic Information): subscribe_webhook(target, secret=<signing secret>).
    # Requests are form-encoded `payload=<JSON>` signed
    # `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + ts + ":" + body)>` with
    # `X-Slack-Request-Timestamp`: https://api.slack.com/authentication/verifying-requests-from-slack;
    # block_actions shape: https://api.slack.com/reference/interaction-payloads/block-actions.

    team_id, app_id = "T0FIXOPS", "A0FIXOPS"

    def encode_payload(self, payload, sub) -> bytes:
        return urlencode({"payload": json.dumps(payload)}).encode()

    def sign(self, body, sub, *, event, at=None, **_):
        stamp = str(int((at or datetime.now(UTC)).timestamp()))
        base = b"v0:" + stamp.encode() + b":" + body
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": "v0="
            + hmac.new(sub.secret.encode(), base, hashlib.sha256).hexdigest(),
        }

    def press_button(
        self,
        ts: str,
        action_id: str,
        value: str = "",
        *,
        user: str = "U0AMY",
        channel: str | None = None,
    ) -> list[Delivery]:
        """User `user` presses the button `action_id` (carrying `value`) on message `ts`: a
        block_actions request to the Interactivity Request URL."""
        channel = channel or self.channel
        with self.lock:
            message = next(
                (m for m in self.state["channels"].get(channel, []) if m.get("ts") == ts), {}
            )
            payload = {
                "type": "block_actions",
                "user": {
                    "id": user,
                    "username": user.lower(),
                    "name": user.lower(),
                    "team_id": self.team_id,
                },
                "api_app_id": self.app_id,
                "token": "verification-token-deprecated",
                "container": {
                    "type": "message",
                    "message_ts": ts,
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "trigger_id": f"{int(time.time())}.1.abcdef",
                "team": {"id": self.team_id, "domain": "acme"},
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel, "name": "security"},
                "message": {k: v for k, v in message.items() if k != "metadata"} or {"ts": ts},
                "state": {"values": {}},
                "response_url": f"{self.url}/actions/{self.team_id}/1/abc",
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "fixops_actions",
                        "text": {"type": "plain_text", "text": action_id, "emoji": True},
                        "value": value,
                        "type": "button",
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        return self._emit("block_actions", payload)
