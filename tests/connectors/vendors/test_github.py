"""GitHub issues and check runs against the fake GitHub."""

from __future__ import annotations

import pytest

from apps.connectors.base import Ticket
from apps.connectors.registry import validate_config
from fixops.platform.http.errors import PermanentError, TransientError
from tests.fakes.fixtures import connector

TICKET = Ticket(
    reference="fixops-f-9",
    title="XSS in search",
    body="Escape output",
    labels=("web",),
    url="https://fixops.test/f/9",
)
SHA = "a" * 40


def decision(n_annotations: int, **extra) -> Ticket:
    annotations = [
        {
            "path": "app.py",
            "start_line": i + 1,
            "annotation_level": "failure",
            "message": f"finding {i}",
            "title": "CVE",
        }
        for i in range(n_annotations)
    ]
    return Ticket(
        reference="fixops-d-5",
        title="FixOps: BLOCK",
        body="2 critical findings",
        url="https://fixops.test/d/5",
        extra={"head_sha": SHA, "conclusion": "failure", "annotations": annotations, **extra},
    )


def test_issue_round_trip(fake_github):
    gh = connector(fake_github, labels=["fixops"])
    ref = gh.create(TICKET)
    assert (ref.id, ref.key, ref.status) == ("1", "#1", "open")
    [issue] = fake_github.with_reference("fixops-f-9")
    assert [lb["name"] for lb in issue["labels"]] == ["fixops-f-9", "fixops", "web"]
    headers = fake_github.requests[-1].headers
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["Accept"] == "application/vnd.github+json"

    assert gh.find_by_reference("fixops-f-9").id == "1"
    assert gh.find_by_reference("fixops-f-10") is None

    ref = gh.transition(ref, "closed")
    assert ref.status == "closed" and issue["state_reason"] == "completed"
    ref = gh.update(ref, Ticket(**{**TICKET.__dict__, "title": "Reflected XSS"}))
    assert ref.status == "open" and issue["state_reason"] == "reopened"
    assert issue["title"] == "Reflected XSS"
    gh.comment(ref, "Fixed")
    assert issue["_comments"] == ["Fixed"]


def test_create_closed_issue(fake_github):
    ref = connector(fake_github).create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "closed"


def test_find_skips_pull_requests_and_follows_pages(fake_github):
    for _ in range(60):
        fake_github.add_pull_request(["fixops-f-9"])
    gh = connector(fake_github)
    ref = gh.create(TICKET)
    found = gh.find_by_reference("fixops-f-9")
    assert found.id == ref.id == "61"
    pages = fake_github.requests_to("GET", r"/issues$")
    assert len(pages) == 2 and pages[1].arg("page") == "2"


def test_check_run_with_batched_annotations(fake_github):
    gh = connector(fake_github)
    ref = gh.create(decision(120))
    assert ref.extra == {"kind": "check_run", "head_sha": SHA}
    assert ref.status == "failure" and ref.key == "FixOps"
    [run] = fake_github.with_reference("fixops-d-5")
    assert len(run["_annotations"]) == 120
    assert run["details_url"] == "https://fixops.test/d/5"
    sizes = [
        len((r.json.get("output") or {}).get("annotations", []))
        for r in fake_github.requests
        if "check-runs" in r.path and r.method in ("POST", "PATCH")
    ]
    assert sizes == [50, 50, 20]

    # A retried create (unknown outcome) finds the run on the commit instead of posting again.
    assert gh.create(decision(120)).id == ref.id
    assert len(fake_github.with_reference("fixops-d-5")) == 1

    updated = gh.update(ref, decision(0, conclusion="success"))
    assert updated.status == "success" and run["conclusion"] == "success"
    assert gh.transition(ref, "closed").status == "success"
    with pytest.raises(PermanentError, match="cannot be reopened"):
        gh.transition(ref, "open")
    with pytest.raises(PermanentError, match="no comments"):
        gh.comment(ref, "x")


def test_check_run_input_is_validated(fake_github):
    gh = connector(fake_github)
    with pytest.raises(PermanentError, match="not a commit SHA"):
        gh.create(decision(1, head_sha="main; rm"))
    with pytest.raises(PermanentError, match="conclusion 'blocked'"):
        gh.create(decision(1, conclusion="blocked"))
    with pytest.raises(PermanentError, match="annotation_level 'fatal'"):
        gh.create(
            Ticket(
                reference="r",
                title="t",
                body="b",
                extra={
                    "head_sha": SHA,
                    "annotations": [{"path": "a", "annotation_level": "fatal"}],
                },
            )
        )
    ref = gh.create(decision(1))
    with pytest.raises(PermanentError, match="invalid check run data"):
        gh.update(ref, decision(1, conclusion="nope"))


def test_validation_error_text(fake_github):
    with pytest.raises(PermanentError, match="Validation Failed.*field: title"):
        connector(fake_github).create(Ticket(reference="r", title="", body=""))


def test_rate_limits_403_and_429(fake_github):
    gh = connector(fake_github)
    fake_github.fail_next(1, 403, retry_after=61)
    with pytest.raises(TransientError, match="secondary rate limit") as err:
        gh.create(TICKET)
    assert err.value.retry_after == 61 and err.value.status == 403
    # Primary limit without Retry-After: the x-ratelimit-reset epoch gives the wait.
    fake_github.fail_next(1, 429)
    with pytest.raises(TransientError) as err:
        gh.create(TICKET)
    assert 50 <= err.value.retry_after <= 60
    assert fake_github.with_reference("fixops-f-9") == []


def test_test_connection(fake_github):
    assert connector(fake_github).test_connection() == (
        "authenticated; repository acme/app reachable (permissions: pull, push)"
    )
    with pytest.raises(PermanentError, match="HTTP 404.*Not Found"):
        connector(fake_github, repository="acme/other").test_connection()


def test_config_validation():
    assert validate_config("github", {"token": "t"}, {"repository": "a/b"}) == {}
    errors = validate_config("github", {"token": "t"}, {"repository": "not a repo", "labels": "x"})
    assert set(errors) == {"settings.repository", "settings.labels"}
