"""Redaction: every documented pattern becomes [REDACTED:<rule>] in every field (keys, paths,
snippets included) before anything leaves, and what the three fakes received holds no raw
secret."""

from __future__ import annotations

import pytest

from apps.advisory.asking import ask
from apps.advisory.prompts import build_question
from apps.advisory.redaction import Redactor, redact, shannon_entropy
from tests.advisory.secrets import SAMPLES
from tests.findings.factories import ApplicationFactory, FindingFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rule", sorted(SAMPLES))
def test_each_rule_redacts_its_secret(rule):
    text, secret = SAMPLES[rule]
    redactor = Redactor()

    out = redactor.text(f"before {text} after")

    assert secret not in out
    assert f"[REDACTED:{rule}]" in out
    assert out.startswith("before ") and out.endswith(" after") or rule == "private_key"
    assert redactor.counts[rule] >= 1


def test_nested_data_keys_and_values_are_redacted():
    token = SAMPLES["github_token"][1]
    data = {"path": f"conf/{token}.env", token: [{"snippet": f"x = '{token}'"}], "n": 3}

    out = redact(data)

    assert token not in str(out)
    assert out["n"] == 3
    assert out["path"] == "conf/[REDACTED:github_token].env"


def test_low_entropy_and_placeholder_values_are_kept():
    assert redact("password = changeme") == "password = changeme"
    assert redact("token: ${{ secrets.TOKEN }}") == "token: ${{ secrets.TOKEN }}"
    assert shannon_entropy("aaaaaaaa") == 0


def test_known_secret_values_are_redacted_wherever_they_appear():
    out = Redactor(extra_secrets=("hunter2hunter2",)).text("login hunter2hunter2 at /x")
    assert out == "login [REDACTED:secret_finding] at /x"


def _every_field_finding(tenant, kind: str = "sast"):
    """A finding carrying a different secret in every text field a question includes."""
    secrets = iter(SAMPLES.values())

    def next_text() -> str:
        return next(secrets)[0]

    app = ApplicationFactory(tenant=tenant, name=f"billing {next_text()}")
    return FindingFactory(
        tenant=tenant,
        application=app,
        kind=kind,
        tool=f"semgrep {next_text()}",
        rule_id=f"rule.{next_text()}",
        title=f"Hard-coded credential {next_text()}",
        message=f"found {next_text()} in code",
        path=f"src/{next_text()}/settings.py",
        resource=next_text(),
        component_purl=f"pkg:pypi/{next_text()}@1.0",
        component_name=next_text(),
        component_version=next_text(),
        aliases=[next_text()],
        fixed_versions=[next_text()],
    )


def test_every_field_of_a_question_is_redacted(acme):
    finding = _every_field_finding(acme)

    question = build_question("triage", finding=finding)

    sent = question.system + question.redacted_text + str(question.data)
    for rule, (_, secret) in SAMPLES.items():
        assert secret not in sent, rule
    assert sent.count("[REDACTED:") >= 12


def test_a_secret_findings_message_never_leaves(acme):
    finding = FindingFactory(
        tenant=acme, kind="secret", tool="gitleaks", message="match: my-internal-passphrase-42"
    )

    question = build_question("triage", finding=finding)

    assert "my-internal-passphrase-42" not in question.redacted_text
    assert question.data["finding"]["message"] == "[REDACTED:secret_finding]"


def test_the_fakes_receive_no_raw_secret(acme, three_fakes, make_provider):
    finding = _every_field_finding(acme)
    question = build_question("triage", finding=finding)

    for fake in three_fakes:
        ask(make_provider(acme, fake), question)

    received = "\n".join(body for fake in three_fakes for body in fake.bodies())
    assert received.count("[REDACTED:") >= 36  # every fake received the redacted question
    for rule, (_, secret) in SAMPLES.items():
        assert secret not in received, rule
        assert secret not in received.replace("\\/", "/"), rule  # JSON-escaped slashes too


def test_long_text_is_cut_after_redaction_so_no_half_secret_leaves(acme):
    key = SAMPLES["aws_access_key_id"][1]
    # The key straddles the 2,000-character cut: cut first, its first half would match nothing.
    finding = FindingFactory(tenant=acme, message="x" * 1990 + " " + key + " tail")

    question = build_question("triage", finding=finding)

    assert key[:8] not in question.redacted_text
    assert question.data["finding"]["message"].endswith("…[truncated]")
