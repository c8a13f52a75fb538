"""Cost of verifying and parsing one webhook delivery, per vendor (no endpoint, no database).

Deliveries are produced and signed by each vendor's fake; the figure is verify + parse per
second. Baseline, same run: a bare HMAC-SHA256 of the body plus `json.loads` of it (Slack:
of its form-encoded payload). The difference is mostly the JSON depth guard's extra pass
(fixops/platform/jsondepth.py) and, for Azure DevOps, reading the event id in `verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs

from apps.connectors.base import Ticket
from apps.connectors.inbound.vendors import HOOKS
from tests.bench.figures import figure
from tests.connectors.inbound.hooktest import Capture
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.fixtures import connector
from tests.fakes.github import FakeGitHub
from tests.fakes.gitlab import FakeGitLab
from tests.fakes.jira import FakeJira
from tests.fakes.servicenow import FakeServiceNow
from tests.fakes.slack import FakeSlack

N = 2000
SECRET = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


def _deliveries(fake) -> list[tuple[dict, bytes]]:
    capture = Capture()
    options = {"signing_token": SECRET} if isinstance(fake, FakeGitLab) else {}
    fake.subscribe_webhook(capture, secret=SECRET, **options)
    ref = connector(fake).create(Ticket(reference="fixops-f-1", title="SQLi", body="x"))
    for i in range(N // 2):
        if isinstance(fake, FakeSlack):
            fake.press_button(ref.id, "fixops_ack", f"fixops-f-{i}")
            fake.press_button(ref.id, "fixops_ack", f"fixops-f-{i}")
            continue
        done, undone = {
            FakeJira: (("Done",), ("To Do",)),
            FakeGitHub: (("closed",), ("open",)),
            FakeGitLab: (("closed",), ("opened",)),
            FakeAzureDevOps: (("Closed",), ("Active",)),
            FakeServiceNow: (("6", "Solved (Permanently)"), ("2",)),
        }[type(fake)]
        key = ref.key if isinstance(fake, FakeJira) else ref.id
        key = int(key) if isinstance(fake, FakeGitHub | FakeGitLab | FakeAzureDevOps) else key
        fake.transition_issue(key, *done[:1], **({"resolution": done[1]} if len(done) > 1 else {}))
        fake.transition_issue(key, *undone)
    return capture.received[:N]


def test_bench_verify_and_parse_per_vendor():
    lines = []
    for fake_class in (
        FakeJira,
        FakeGitHub,
        FakeGitLab,
        FakeAzureDevOps,
        FakeServiceNow,
        FakeSlack,
    ):
        with fake_class() as fake:
            kind = fake.config()["kind"]
            deliveries = _deliveries(fake)
        hooks = HOOKS[kind]
        now = datetime.now(UTC)

        started = time.perf_counter()
        for _, body in deliveries:
            hmac.compare_digest(
                hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(), "0" * 64
            )
            if body.startswith(b"payload="):  # Slack: form-encoded JSON
                json.loads(parse_qs(body.decode())["payload"][0])
            else:
                json.loads(body)
        baseline = time.perf_counter() - started

        started = time.perf_counter()
        changes = 0
        for headers, body in deliveries:
            hooks.verify(secret=SECRET, headers=headers, body=body, now=now, settings={})
            changes += len(hooks.parse(headers=headers, body=body))
        measured = time.perf_counter() - started
        assert changes >= len(deliveries)

        mean = sum(len(b) for _, b in deliveries) / len(deliveries)
        lines.append(
            f"{kind:>12}: {len(deliveries) / measured:>8,.0f} deliveries/s verified + parsed "
            f"({measured / len(deliveries) * 1e6:.0f} µs, {mean:,.0f}-byte bodies); "
            f"baseline HMAC + json.loads {len(deliveries) / baseline:,.0f}/s"
        )
        figure(f"hooks_verify.{kind}", len(deliveries) / measured, "per_s", better="higher")
        figure(
            f"hooks_verify.{kind}_baseline", len(deliveries) / baseline, "per_s", better="higher"
        )
    print("\n" + "\n".join(lines))
