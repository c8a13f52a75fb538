"""Fake ServiceNow Table API: incidents and sys_user, basic auth, {"result": …} bodies,
{"error": {"message", "detail"}, "status": "failure"} errors, sysparm_query (field=value joined
by ^, ORDERBY…), sysparm_limit/sysparm_offset pagination with Link and X-Total-Count."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from tests.fakes.base import FakeServer, RecordedRequest, Response, json_response
from tests.fakes.webhooks import Delivery, WebhookSender

# Reconciliation reads (h-reconcile): an encoded-query IN term, `sys_idINa,b,c`.
_IN_TERM = re.compile(r"^(?P<field>[a-z_]+)IN(?P<values>[^=^]*)$")


class FakeServiceNow(WebhookSender, FakeServer):
    name = "servicenow"
    routes = (
        ("GET", r"/api/now/table/(?P<table>[a-z_]+)", "list_records"),
        ("POST", r"/api/now/table/(?P<table>[a-z_]+)", "create_record"),
        ("GET", r"/api/now/table/(?P<table>[a-z_]+)/(?P<sys_id>[0-9a-f]{32})", "get_record"),
        ("PATCH", r"/api/now/table/(?P<table>[a-z_]+)/(?P<sys_id>[0-9a-f]{32})", "patch_record"),
        ("PUT", r"/api/now/table/(?P<table>[a-z_]+)/(?P<sys_id>[0-9a-f]{32})", "patch_record"),
    )

    def __init__(
        self, *, username: str = "fixops.integration", password: str = "snow-pass"
    ) -> None:
        self.username, self.password = username, password
        super().__init__()

    def reset_state(self) -> None:
        self.state = {
            "incident": {},
            "sys_user": {
                "6816f79cc0a8016401c5a33be04be441": {
                    "sys_id": "6816f79cc0a8016401c5a33be04be441",
                    "user_name": self.username,
                    "name": "FixOps Integration",
                }
            },
            "next_number": 10001,
        }

    def config(self, **settings) -> dict:
        return {
            "kind": "servicenow",
            "base_url": self.url,
            "credentials": {"username": self.username, "password": self.password},
            "settings": {**settings},
        }

    def check_auth(self, req: RecordedRequest) -> Response | None:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if req.header("Authorization") == expected:
            return None
        return Response(
            401,
            {
                "error": {
                    "message": "User Not Authenticated",
                    "detail": "Required to provide Auth information",
                },
                "status": "failure",
            },
            {"WWW-Authenticate": 'BASIC realm="Service-now"'},
        )

    def error_response(self, status, message, headers=None):
        return Response(
            status,
            {"error": {"message": message, "detail": None}, "status": "failure"},
            headers or {},
        )

    def rate_limit_headers(self, retry_after):
        headers = {
            "X-RateLimit-Limit": "1000",
            "X-RateLimit-Reset": str(int(time.time()) + 30),
            "X-RateLimit-Rule": "fixops-integration",
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return headers

    def with_reference(self, reference: str) -> list[dict]:
        with self.lock:
            return [
                r for r in self.state["incident"].values() if r.get("correlation_id") == reference
            ]

    # -- reconciliation reads and vendor-side edits (h-reconcile) ---------------------------------
    # Table API list with an encoded query `sys_idIN<id>,<id>` (the IN operator of encoded
    # queries: https://docs.servicenow.com/bundle/xanadu-platform-user-interface/page/use/common-ui-elements/reference/r_OpAvailableFiltersQueries.html),
    # paged by sysparm_offset/sysparm_limit with a Link rel="next" (REST Table API).

    def vendor_set_state(self, sys_id: str, state: str, close_code: str = "") -> None:
        """Someone resolves or reopens the incident in ServiceNow."""
        with self.lock:
            record = self.state["incident"][sys_id]
            record["state"] = state
            record["close_code"] = close_code

    def vendor_delete(self, sys_id: str) -> None:
        """Someone deletes the incident."""
        with self.lock:
            del self.state["incident"][sys_id]

    # -- helpers ---------------------------------------------------------------------------------

    def _table(self, table):
        if table not in ("incident", "sys_user"):
            return None
        return self.state[table]

    @staticmethod
    def _fields(record: dict, req: RecordedRequest) -> dict:
        wanted = req.arg("sysparm_fields")
        if not wanted:
            return dict(record)
        return {f: record.get(f, "") for f in wanted.split(",")}

    @staticmethod
    def _query(records: list[dict], query: str) -> list[dict] | None:
        order = None
        for term in filter(None, query.split("^")):
            if term.startswith("ORDERBY"):
                order = term[len("ORDERBY") :]
                continue
            if (m := _IN_TERM.match(term)) is not None:  # reconciliation reads (h-reconcile)
                values = set(m.group("values").split(","))
                records = [r for r in records if str(r.get(m.group("field"), "")) in values]
                continue
            if "=" not in term:
                return None
            field, value = term.split("=", 1)
            records = [r for r in records if str(r.get(field, "")) == value]
        if order:
            records = sorted(records, key=lambda r: r.get(order, ""))
        return records

    # -- routes ----------------------------------------------------------------------------------

    def list_records(self, req, table):
        with self.lock:
            rows = self._table(table)
            if rows is None:
                return self.error_response(400, "Invalid table " + table)
            records = self._query(list(rows.values()), req.arg("sysparm_query", "") or "")
            if records is None:
                return self.error_response(400, "Invalid query")
            limit = int(req.arg("sysparm_limit", "10000"))
            offset = int(req.arg("sysparm_offset", "0"))
            page = records[offset : offset + limit]
            headers = {"X-Total-Count": str(len(records))}
            links = []
            base = f"{self.url}{req.path}"
            params = {k: v[-1] for k, v in req.query.items()}
            if offset + limit < len(records):
                links.append(
                    f'<{base}?{urlencode({**params, "sysparm_offset": offset + limit})}>;rel="next"'
                )
            links.append(f'<{base}?{urlencode({**params, "sysparm_offset": 0})}>;rel="first"')
            headers["Link"] = ",".join(links)
            return json_response(200, {"result": [self._fields(r, req) for r in page]}, **headers)

    def create_record(self, req, table):
        body = req.json
        if not isinstance(body, dict):
            return self.error_response(
                400,
                "Exception while reading request",
            )
        with self.lock:
            rows = self._table(table)
            if rows is None or table != "incident":
                return self.error_response(403, "Operation Failed")
            sys_id = uuid.uuid4().hex
            record = {
                "sys_id": sys_id,
                "number": f"INC{self.state['next_number']:07d}",
                "state": "1",
                "sys_created_on": f"{time.time():.6f}",
                "work_notes_log": [],
                "comments_log": [],
            }
            self.state["next_number"] += 1
            self._apply(record, body)
            if record["state"] == "6" and not record.get("close_code"):
                return self.error_response(
                    403, "Data Policy Exception: Resolution code is mandatory"
                )
            rows[sys_id] = record
            location = f"{self.url}/api/now/table/{table}/{sys_id}"
            return json_response(201, {"result": self._fields(record, req)}, Location=location)

    @staticmethod
    def _apply(record: dict, body: dict) -> None:
        for field, value in body.items():
            if field in ("work_notes", "comments"):
                record[f"{field}_log"].append(value)
            elif field not in ("sys_id", "number", "sys_created_on"):
                record[field] = str(value) if field == "state" else value

    def get_record(self, req, table, sys_id):
        with self.lock:
            rows = self._table(table) or {}
            record = rows.get(sys_id)
            if record is None:
                return Response(
                    404,
                    {
                        "error": {
                            "message": "No Record found",
                            "detail": "Record doesn't exist or ACL restricts the record retrieval",
                        },
                        "status": "failure",
                    },
                )
            return json_response(200, {"result": self._fields(record, req)})

    def patch_record(self, req, table, sys_id):
        body = req.json
        if not isinstance(body, dict):
            return self.error_response(400, "Exception while reading request")
        with self.lock:
            rows = self._table(table) or {}
            record = rows.get(sys_id)
            if record is None:
                return Response(
                    404,
                    {
                        "error": {
                            "message": "No Record found",
                            "detail": "Record doesn't exist or ACL restricts the record retrieval",
                        },
                        "status": "failure",
                    },
                )
            if record["state"] == "7":
                return Response(
                    403,
                    {
                        "error": {
                            "message": "Operation Failed",
                            "detail": "ACL Exception Update Failed due to security constraints",
                        },
                        "status": "failure",
                    },
                )
            if str(body.get("state")) == "6" and not (
                body.get("close_code") or record.get("close_code")
            ):
                return self.error_response(
                    403, "Data Policy Exception: Resolution code is mandatory"
                )
            self._apply(record, body)
            return json_response(200, {"result": self._fields(record, req)})

    # -- webhooks: the sending side --------------------------------------------------------------
    # ServiceNow has no webhook product: the FixOps business rule (docs/connectors.md,
    # "Registering webhooks" > ServiceNow) sends the FixOps contract
    # (apps/connectors/servicenow/webhook.py). subscribe_webhook(target, secret=...) stands for
    # installing that rule with its two system properties (URL and secret); this side does what
    # the script does: `X-FixOps-Signature: sha256=<hex HMAC-SHA256(secret, ts + "." + body)>`,
    # `X-FixOps-Timestamp`, `X-FixOps-Delivery` (gs.generateGUID(): 32 hex).
    # RESTMessageV2: https://developer.servicenow.com/dev.do#!/reference/api/latest/server/sn_ws-namespace/c_RESTMessageV2API

    STATE_LABELS = {
        "1": "New",
        "2": "In Progress",
        "3": "On Hold",
        "6": "Resolved",
        "7": "Closed",
        "8": "Canceled",
    }

    def sign(self, body, sub, *, event, at=None, delivery_id=None, **_):
        stamp = str(int((at or datetime.now(UTC)).timestamp()))
        digest = hmac.new(sub.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return {
            "Content-Type": "application/json",
            "User-Agent": "ServiceNow/1.0",
            "X-FixOps-Timestamp": stamp,
            "X-FixOps-Signature": "sha256=" + digest.hexdigest(),
            "X-FixOps-Delivery": delivery_id or uuid.uuid4().hex,
        }

    def _rule_payload(self, event: str, record: dict, actor: str, **extra) -> dict:
        record["sys_mod_count"] = int(record.get("sys_mod_count", 0)) + 1
        record["sys_updated_by"] = actor
        record["sys_updated_on"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        body = {
            "event": event,
            "table": "incident",
            "sys_id": record["sys_id"],
            "number": record["number"],
            "state": record["state"],
            "state_label": self.STATE_LABELS.get(record["state"], record["state"]),
            "close_code": record.get("close_code", ""),
            "correlation_id": record.get("correlation_id", ""),
            "sys_updated_on": record["sys_updated_on"],
            "sys_updated_by": actor,
            "sys_mod_count": record["sys_mod_count"],
        }
        body.update(extra)
        return body

    def transition_issue(
        self, sys_id: str, state: str, *, resolution: str | None = None, actor: str = "abel.tuter"
    ) -> list[Delivery]:
        """Someone sets incident `sys_id` to `state` ("6" Resolved, "7" Closed, "2" In
        Progress...) with close code `resolution`: the rule sends incident.updated."""
        with self.lock:
            record = self.state["incident"][sys_id]
            record["state"] = str(state)
            if resolution is not None:
                record["close_code"] = resolution
            payload = self._rule_payload("incident.updated", record, actor)
        return self._emit("incident.updated", payload)

    def comment_as(self, sys_id: str, body: str, *, actor: str = "abel.tuter") -> list[Delivery]:
        """Someone adds an additional comment: the rule sends incident.commented."""
        with self.lock:
            record = self.state["incident"][sys_id]
            record["comments_log"].append(body)
            comment = {"sys_id": uuid.uuid4().hex, "value": body}
            payload = self._rule_payload("incident.commented", record, actor, comment=comment)
        return self._emit("incident.commented", payload)

    def delete_issue(self, sys_id: str, *, actor: str = "admin") -> list[Delivery]:
        """Someone deletes the incident: the (after delete) rule sends incident.deleted."""
        with self.lock:
            record = self.state["incident"].pop(sys_id)
            payload = self._rule_payload("incident.deleted", record, actor)
        return self._emit("incident.deleted", payload)
