"""ServiceNow: deliveries of the FixOps contract, signed and shaped by the fake ServiceNow
playing the documented business rule (tests/fakes/servicenow.py), verified and parsed by
apps/connectors/servicenow/webhook.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.connectors.base import Ticket
from apps.connectors.inbound.changes import ChangeKind, RemoteChange
from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from apps.connectors.servicenow import webhook as hooks
from tests.connectors.inbound.hooktest import Capture, deep_json, edited, receive, verify, without
from tests.fakes.fixtures import connector
from tests.fakes.servicenow import FakeServiceNow

SECRET = "snow-hook-secret-0123456789"


@pytest.fixture
def snow():
    with FakeServiceNow() as fake:
        capture = Capture()
        fake.subscribe_webhook(capture, secret=SECRET)
        ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
        yield fake, capture, ref


def test_resolved_with_close_code(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Not Solved (Not Reproducible)", actor="beth")
    headers, _ = capture.last
    verified = verify(hooks, capture.last, secret=SECRET)
    assert verified.delivery_id == headers["X-FixOps-Delivery"]
    assert abs(verified.occurred_at - datetime.now(UTC)) < timedelta(seconds=5)
    [change] = receive(hooks, capture.last, secret=SECRET)
    assert change == RemoteChange(
        kind=ChangeKind.STATUS,
        remote_id=ref.id,
        remote_key=ref.key,
        status="Resolved",
        status_category="6",
        resolution="Not Solved (Not Reproducible)",
        actor="beth",
        occurred_at=change.occurred_at,
    )
    assert abs(change.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_comment_and_delete(snow):
    fake, capture, ref = snow
    fake.comment_as(ref.id, "Patched on all hosts", actor="carl")
    [comment] = receive(hooks, capture.last, secret=SECRET)
    assert (comment.kind, comment.remote_id, comment.comment_body, comment.actor) == (
        ChangeKind.COMMENT,
        ref.id,
        "Patched on all hosts",
        "carl",
    )
    assert comment.comment_id
    fake.delete_issue(ref.id)
    [deleted] = receive(hooks, capture.last, secret=SECRET)
    assert (deleted.kind, deleted.remote_id, deleted.remote_key) == (
        ChangeKind.DELETED,
        ref.id,
        ref.key,
    )


def test_forged_tampered_and_wrong_secret_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "7", resolution="Solved (Permanently)")
    headers, body = capture.last
    forged = fake.sign_with(body, secret="guessed", event="incident.updated")
    moved = {**headers, "X-FixOps-Timestamp": str(int(headers["X-FixOps-Timestamp"]) - 1)}
    for delivery, secret in (
        ((forged, body), SECRET),
        ((headers, edited(body, state="2")), SECRET),
        ((moved, body), SECRET),  # the timestamp is under the signature
        (capture.last, "another-integration's-secret"),
    ):
        with pytest.raises(HookRejected) as caught:
            verify(hooks, delivery, secret=secret)
        assert (caught.value.status, caught.value.code) == (401, "bad_signature")


def test_unsigned_and_unconfigured_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, (without(headers, "X-FixOps-Signature"), body), secret=SECRET)
    assert (caught.value.status, caught.value.code) == (401, "unsigned")
    with pytest.raises(HookRejected):
        verify(hooks, capture.last, secret="")


def test_stale_and_future_timestamps_are_401(snow):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    _, body = capture.last
    for at in (
        datetime.now(UTC) - timedelta(minutes=6),
        datetime.now(UTC) + timedelta(minutes=6),
    ):
        old = fake.sign_with(body, secret=SECRET, event="incident.updated", at=at)
        with pytest.raises(HookRejected) as caught:
            verify(hooks, (old, body), secret=SECRET)
        assert (caught.value.status, caught.value.code) == (401, "stale")
    # Within the window, a replay verifies: the delivery id is what makes it change nothing.
    fake.redeliver(fake.last_delivery())
    assert verify(hooks, capture.last, secret=SECRET, now=datetime.now(UTC) + timedelta(minutes=4))


@pytest.mark.parametrize(
    "changes",
    [
        {"X-FixOps-Signature": "sha1=" + "a" * 40},
        {"X-FixOps-Timestamp": "2026-12-06T10:00:00Z"},
        {"X-FixOps-Timestamp": ""},
        {"X-FixOps-Delivery": ""},
    ],
)
def test_malformed_headers_are_400(snow, changes):
    fake, capture, ref = snow
    fake.transition_issue(ref.id, "6", resolution="Solved (Permanently)")
    headers, body = capture.last
    with pytest.raises(HookRejected) as caught:
        verify(hooks, ({**headers, **changes}, body), secret=SECRET)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"{]",
        b"null",
        deep_json(10_000),
        b'{"event": "incident.updated", "number": "INC1"}',
        b'{"event": "incident.updated", "sys_id": "a1", "state": {"value": "6"}}',
        b'{"event": "incident.updated", "sys_id": "a1", "state": "6", "sys_updated_on": "now"}',
        b'{"event": "incident.commented", "sys_id": "a1", "comment": "text"}',
    ],
)
def test_malformed_bodies_signed_by_the_rule(snow, body):
    fake, _, _ = snow
    headers = fake.sign_with(body, secret=SECRET, event="incident.updated")
    verify(hooks, (headers, body), secret=SECRET)
    with pytest.raises(HookMalformed):
        hooks.parse(headers=headers, body=body)


def test_other_events_are_empty():
    assert hooks.parse(headers={}, body=b'{"event": "problem.updated", "sys_id": "a1"}') == []


# The documented business rule itself (docs/connectors.md, "Registering webhooks" >
# ServiceNow), run under node with stand-ins for the Glide APIs it calls: what it signs and
# sends verifies and parses here. GlideCertificateEncryption.generateMac is stood in by an HMAC
# keyed with the Base64-decoded key, answering Base64, as its documentation states.
_GLIDE = r"""
const crypto = require('crypto');
const input = JSON.parse(process.argv[process.argv.length - 1]);
const rec = input.record;
const out = {headers: {}};
global.gs = {
  getProperty: (n) =>
    ({'x_fixops.webhook_url': input.url, 'x_fixops.webhook_secret': input.secret})[n],
  getUserName: () => 'admin',
  generateGUID: () => crypto.randomBytes(16).toString('hex'),
};
global.GlideStringUtil = {base64Encode: (s) => Buffer.from(s, 'utf8').toString('base64')};
global.GlideDateTime = function () { this.getNumericValue = () => Date.now(); };
global.GlideCertificateEncryption = function () {
  this.generateMac = (key, algorithm, data) => {
    if (algorithm !== 'HmacSHA256') throw new Error(algorithm);
    const hmac = crypto.createHmac('sha256', Buffer.from(key, 'base64'));
    return hmac.update(data, 'utf8').digest('base64');
  };
};
global.GlideRecord = function (table) {
  let left = table === 'sys_journal_field' && input.comment ? 1 : 0;
  this.addQuery = () => {}; this.orderByDesc = () => {};
  this.setLimit = () => {}; this.query = () => {};
  this.next = () => left-- > 0;
  this.getUniqueValue = () => input.comment.sys_id;
  this.getValue = (f) => input.comment[f];
};
global.sn_ws = {RESTMessageV2: function () {
  this.setEndpoint = (u) => { out.url = u; };
  this.setHttpMethod = (m) => { out.method = m; };
  this.setRequestHeader = (k, v) => { out.headers[k] = v; };
  this.setRequestBody = (b) => { out.body = b; };
  this.executeAsync = () => { out.sent = true; };
}};
const current = {
  getTableName: () => 'incident',
  getUniqueValue: () => rec.sys_id,
  getValue: (f) => rec[f],
  getDisplayValue: (f) => input.labels[rec[f]],
  operation: () => input.operation,
  state: {changes: () => input.state_changed},
  comments: {changes: () => !!input.comment},
};
const previous = null;
/*SCRIPT*/
process.stdout.write(JSON.stringify(out));
"""


def _business_rule() -> str:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "connectors.md").read_text()
    section = docs[docs.index("### ServiceNow") :]
    return section.split("```javascript\n", 1)[1].split("```", 1)[0]


def _run_rule(**input_) -> tuple[dict[str, str], bytes]:
    script = _GLIDE.replace("/*SCRIPT*/", _business_rule())
    done = subprocess.run(  # noqa: S603 - node on a script of our own
        [shutil.which("node") or "node", "-e", script, json.dumps(input_)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    out = json.loads(done.stdout)
    assert out["sent"] and out["method"] == "post" and out["url"] == input_["url"]
    return out["headers"], out["body"].encode("utf-8")


RECORD = {
    "sys_id": "9d385017c611228701d22104cc95c371",
    "number": "INC0010042",
    "state": "6",
    "close_code": "Solved (Permanently)",
    "correlation_id": "fixops-f-7",
    "sys_updated_on": "2026-12-06 10:00:00",
    "sys_updated_by": "beth.anglin",
    "sys_mod_count": "12",
}
LABELS = {"6": "Resolved", "2": "In Progress"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the documented script")
def test_the_documented_business_rule_signs_what_fixops_verifies():
    common = {"url": "https://fixops.example/hooks/abc/", "secret": SECRET, "labels": LABELS}
    delivery = _run_rule(record=RECORD, operation="update", state_changed=True, **common)
    verified = verify(hooks, delivery, secret=SECRET)
    assert len(verified.delivery_id) == 32
    [change] = hooks.parse(headers=delivery[0], body=delivery[1])
    assert (change.kind, change.remote_id, change.remote_key, change.status) == (
        ChangeKind.STATUS,
        RECORD["sys_id"],
        "INC0010042",
        "Resolved",
    )
    assert (change.status_category, change.resolution, change.actor) == (
        "6",
        "Solved (Permanently)",
        "beth.anglin",
    )
    assert change.occurred_at == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    # A comment in UTF-8 beyond ASCII: the rule signs the characters, FixOps the bytes.
    comment = {"sys_id": "a" * 32, "value": "Corrigé sur tous les hôtes ✓"}
    delivery = _run_rule(
        record=RECORD, operation="update", state_changed=False, comment=comment, **common
    )
    [change] = receive(hooks, delivery, secret=SECRET)
    assert (change.kind, change.comment_id, change.comment_body) == (
        ChangeKind.COMMENT,
        "a" * 32,
        comment["value"],
    )
    delivery = _run_rule(record=RECORD, operation="delete", state_changed=False, **common)
    [change] = receive(hooks, delivery, secret=SECRET)
    assert (change.kind, change.actor) == (ChangeKind.DELETED, "admin")
    with pytest.raises(HookRejected):
        verify(hooks, delivery, secret="another-secret")
