"""The content digest (apps/findings/parsers/content.py): what a report says, not its bytes."""

from __future__ import annotations

import io
import json

import pytest

from apps.findings.parsers import get_parser
from apps.findings.parsers.content import content_digest

SARIF = {
    "version": "2.1.0",
    "runs": [
        {
            "tool": {"driver": {"name": "semgrep"}},
            "invocations": [
                {
                    "executionSuccessful": True,
                    "endTimeUtc": "2026-12-06T09:00:00Z",
                    "workingDirectory": {"uri": "file:///src/"},
                }
            ],
            "results": [{"ruleId": "r1", "message": {"text": "one"}, "properties": {"n": 1.5}}],
        }
    ],
}


def digest(document, fmt: str = "sarif", context=("ctx",), **dumps) -> str | None:
    raw = document if isinstance(document, bytes) else json.dumps(document, **dumps).encode()
    return content_digest(io.BytesIO(raw), get_parser(fmt), context=context)


def edited(change) -> dict:
    document = json.loads(json.dumps(SARIF))
    change(document)
    return document


def test_formatting_and_unread_members_do_not_count():
    def rerun(doc):
        invocation = doc["runs"][0]["invocations"][0]
        invocation.update(endTimeUtc="2026-12-07T10:00:00Z", exitCode=0, machine="ci-7")
        invocation["toolExecutionNotifications"] = [{"message": {"text": "took 3 s"}}]

    assert digest(SARIF) == digest(edited(rerun), indent=2)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["runs"][0]["results"][0]["message"].update(text="two"),
        lambda d: d["runs"][0]["results"][0]["properties"].update(n=1.25),
        lambda d: d["runs"][0]["invocations"][0]["workingDirectory"].update(uri="file:///x/"),
        lambda d: d["runs"][0]["invocations"][0].update(ruleConfigurationOverrides=[]),
        lambda d: d["runs"][0].update(invocations=[]),
        lambda d: d["runs"][0]["tool"]["driver"].update(name="bandit"),
    ],
    ids=["message", "property", "working-dir", "overrides", "no-invocation", "tool"],
)
def test_what_the_parser_reads_counts(change):
    assert digest(edited(change)) != digest(SARIF)


def test_the_import_context_counts():
    assert digest(SARIF, context=("a",)) != digest(SARIF, context=("b",))


def test_other_formats_read_everything():
    report = [{"RuleID": "aws-key", "File": "a.py", "Date": "2026-12-06T09:00:00Z"}]
    later = [{**report[0], "Date": "2026-12-07T09:00:00Z"}]
    assert digest(report, "gitleaks") == digest(report, "gitleaks", indent=1)
    assert digest(report, "gitleaks") != digest(later, "gitleaks")


def test_no_digest_without_one_json_document():
    assert digest(b'{"version": "2.1.0", "runs": [') is None  # truncated
    assert digest(b"<bom/>", "cyclonedx-xml") is None
    assert digest(b'{"a": 1}\n{"b": 2}\n', "trufflehog") is None


def test_the_stream_is_left_where_it_was():
    stream = io.BytesIO(b"  " + json.dumps(SARIF).encode())
    stream.seek(2)
    assert content_digest(stream, get_parser("sarif"), context=()) is not None
    assert stream.tell() == 2


def test_replaced_characters_count():
    # The guard turns U+0000 into U+FFFD: the tokens agree, the import's warnings do not.
    clean = edited(lambda d: d["runs"][0]["results"][0]["message"].update(text="a\ufffdb"))
    nul = edited(lambda d: d["runs"][0]["results"][0]["message"].update(text="a\u0000b"))
    assert digest(clean) != digest(nul)


def test_left_out_members_longer_than_a_chunk_of_events():
    """A left-out member spanning several chunks of events (a run's many notifications) is
    left out whole, and a read member after it still counts."""
    notes = [{"message": {"text": f"note {n}"}, "level": "note"} for n in range(5000)]

    def noisy(directory: str):
        def change(doc):
            invocation = doc["runs"][0]["invocations"][0]
            del invocation["workingDirectory"]  # to come after the notifications
            invocation["toolExecutionNotifications"] = notes
            invocation["workingDirectory"] = {"uri": directory}

        return edited(change)

    def quiet(directory: str):
        return edited(
            lambda d: d["runs"][0]["invocations"][0].update(workingDirectory={"uri": directory})
        )

    assert digest(noisy("file:///src/")) == digest(quiet("file:///src/"))
    assert digest(noisy("file:///other/")) != digest(quiet("file:///src/"))


def test_sboms_have_no_digest():
    """Their imports are never repeated (components are sighted per row): no cost for one."""
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}
    assert digest(bom, "cyclonedx-json") is None
