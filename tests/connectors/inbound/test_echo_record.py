"""The outbound record keeps what echo suppression needs: the status our write left at the
vendor and marks of the comments we wrote (delivered to the Jira fake for real)."""

from __future__ import annotations

import pytest

from apps.connectors import drain
from apps.connectors.inbound import echo
from apps.connectors.models import ExternalLink, MessageKind
from apps.connectors.outbox import NewMessage, enqueue
from tests.connectors.factories import enqueue_tickets

pytestmark = pytest.mark.django_db


def test_delivered_transition_records_sent_status_and_comment_marks(
    acme, fake_jira, make_integration
):
    jira = make_integration(acme, fake_jira)
    enqueue_tickets(jira, 1)
    drain.drain(budget_seconds=10)
    link = ExternalLink.objects.get(integration=jira)
    note = "FixOps: open -> fixed by user:alice"
    enqueue(
        [
            NewMessage(
                integration=jira,
                kind=MessageKind.TRANSITION,
                reference=link.reference,
                payload={"status": "closed", "comment": note},
                idempotency_key="close-1",
            )
        ]
    )
    drain.drain(budget_seconds=10)
    link.refresh_from_db()
    assert link.state == "closed"
    assert link.sent_status and link.sent_status == link.remote_status
    assert echo.body_mark(note) in link.sent_comments
    assert echo.is_echo(
        link.sent_comments, comment_id="", body="*FixOps*: open -> fixed by user:alice"
    )
