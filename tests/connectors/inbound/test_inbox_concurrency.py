"""Two workers apply deliveries of the same integration at the same time: one delivery's
lock does not hold up (or make "lost") another of the same integration."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.connectors.inbound.inbox import claim, process_one
from apps.connectors.models import DeliveryStatus, InboundDelivery
from apps.findings.models import FindingStatus
from tests.connectors.inbound.conftest import endpoint
from tests.connectors.inbound.test_inbox_crash import RowLock

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_blocked_delivery_does_not_block_the_integrations_others(
    acme, fake_jira, make_integration, ticket_for
):
    jira = make_integration(acme, fake_jira, min_severity="low")
    (slow, slow_link), (fast, fast_link) = ticket_for(jira), ticket_for(jira)
    fake_jira.subscribe_webhook(endpoint(jira), secret=jira.webhook_secret)
    fake_jira.transition_issue(slow_link.remote_key, "Done")
    fake_jira.transition_issue(fast_link.remote_key, "Done")
    first, second = InboundDelivery.objects.order_by("id").values_list("id", flat=True)
    claimed = claim(owner="w1", limit=1) + claim(owner="w2", limit=1)
    assert claimed == [first, second]
    outcomes: dict[str, str] = {}

    def work(delivery_id: int, owner: str) -> None:
        try:
            outcomes[owner] = process_one(delivery_id, owner)
        finally:
            connection.close()

    with RowLock(slow.pk):
        blocked = threading.Thread(target=work, args=(first, "w1"))
        blocked.start()
        blocked.join(1.5)
        assert blocked.is_alive()  # waiting on the finding's lock, its transaction open
        work(second, "w2")  # another worker, the same integration, meanwhile
        assert outcomes["w2"] == DeliveryStatus.APPLIED
    blocked.join(10)
    assert outcomes["w1"] == DeliveryStatus.APPLIED
    for finding in (slow, fast):
        finding.refresh_from_db()
        assert finding.status == FindingStatus.FIXED
