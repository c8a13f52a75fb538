"""Confluence pages (Cloud and Data Center) against the fake Confluence."""

from __future__ import annotations

import pytest

from apps.connectors.base import Ticket
from apps.connectors.registry import validate_config
from fixops.platform.http.errors import PermanentError, TransientError
from tests.fakes.confluence import FakeConfluence
from tests.fakes.fixtures import connector

REPORT = Ticket(
    reference="fixops-d-12",
    title="Decision report: api 1.4",
    body="Verdict: BLOCK\n\n- CVE-1 <script>",
    labels=("Release Gate",),
    url="https://fixops.test/d/12",
)


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request):
    with FakeConfluence(deployment=request.param) as fake:
        yield fake


def test_round_trip(fake):
    conf = connector(fake)
    ref = conf.create(REPORT)
    assert ref.version == 1 and ref.key == "Decision report: api 1.4 [fixops-d-12]"
    assert ref.url == f"{fake.root}/spaces/SEC/pages/{ref.id}"
    [page] = fake.with_reference("fixops-d-12")
    assert page["labels"] == ["fixops-d-12", "release-gate"]
    assert page["body"] == (
        "<p>Verdict: BLOCK</p><ul><li>CVE-1 &lt;script&gt;</li></ul>"
        '<p><a href="https://fixops.test/d/12">View in FixOps</a></p>'
    )

    assert conf.find_by_reference("fixops-d-12").id == ref.id
    assert conf.find_by_reference("fixops-d-13") is None

    ref = conf.update(ref, Ticket(**{**REPORT.__dict__, "body": "Verdict: ALLOW"}))
    assert ref.version == 2 and page["body"].startswith("<p>Verdict: ALLOW</p>")
    ref = conf.transition(ref, "closed")
    assert ref.status == "closed" and "fixops-closed" in page["labels"]
    ref = conf.update(ref, REPORT)  # status open again: the label goes
    assert ref.status == "open" and ref.version == 3
    conf.comment(ref, "Approved")
    assert page["comments"] == ["<p>Approved</p>"]


def test_version_conflict_is_retried_once(fake_confluence):
    conf = connector(fake_confluence)
    ref = conf.create(REPORT)
    fake_confluence.concurrent_edit_next(1)
    assert conf.update(ref, REPORT).version == 3  # 2 by the other editor, 3 by us
    fake_confluence.concurrent_edit_next(2)
    with pytest.raises(TransientError, match="HTTP 409.*Version must be incremented") as err:
        conf.update(ref, REPORT)
    assert err.value.status == 409


def test_create_after_unknown_outcome_reuses_the_page(fake_confluence):
    conf = connector(fake_confluence)
    fake_confluence.drop_next(1, after_commit=True)
    with pytest.raises(TransientError):
        conf.create(REPORT)
    ref = conf.create(REPORT)  # the title exists and carries our label: updated, not duplicated
    assert ref.version == 2 and len(fake_confluence.with_reference("fixops-d-12")) == 1
    other = Ticket(**{**REPORT.__dict__, "reference": "fixops-d-99"})
    fake_confluence.state["pages"][ref.id]["title"] = "Decision report: api 1.4 [fixops-d-99]"
    with pytest.raises(PermanentError, match="title already exists"):
        conf.create(other)


def test_parent_and_errors(fake_confluence):
    with pytest.raises(PermanentError, match="Could not find ancestor page 1"):
        connector(fake_confluence, parent_id="1").create(REPORT)
    with pytest.raises(PermanentError, match="No space found with key : NOPE"):
        connector(fake_confluence, space_key="NOPE").create(REPORT)


def test_test_connection(fake):
    who = "jane@acme.test" if fake.deployment == "cloud" else "jdoe"
    assert connector(fake).test_connection() == f"authenticated as {who}; space SEC reachable"


def test_config_validation():
    assert validate_config("confluence", {"token": "t"}, {"space_key": "S"}) == {}
    assert validate_config("confluence", {"email": "e", "api_token": "t"}, {"space_key": "S"}) == {}
    assert set(validate_config("confluence", {"email": "e"}, {})) == {
        "credentials",
        "settings.space_key",
    }
