"""The import lock on an application serialises imports without blocking foreign keys.

Found by the load test (docs/operations.md, "Load test"): an import held the application row
FOR UPDATE and then waited for the tenant's audit chain head, while a decision on the same
application held that head and, at COMMIT, ran its deferred foreign-key check on the
application (FOR KEY SHARE, which FOR UPDATE blocks): PostgreSQL killed one as a deadlock and
POST /decisions/ answered 500. The lock is now FOR NO KEY UPDATE, which still excludes a
second import but lets rows that reference the application be checked and committed. The
same deadlock came back through the advisory match an SBOM import runs, which took its own
FOR UPDATE; every writer now takes the one lock of apps/findings/locks.py, and each is
checked below.
"""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from apps.findings.models import Stream
from apps.findings.services import application_lock
from apps.findings.streams import stream_retire
from apps.intel.osv_match import match_application_components
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _in_other_connection(sql: str, pk: int) -> str:
    """Run `sql` on a connection of another thread with a 1 s lock timeout; "ok" or the
    error's class name."""
    outcome: list[str] = []

    def work() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
                cursor.execute(sql, [pk])
            outcome.append("ok")
        except OperationalError as exc:
            outcome.append(type(exc.__cause__).__name__)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    return outcome[0]


def _retire(app) -> None:
    Stream.objects.create(tenant=app.tenant, application=app, tool="trivy", branch="main")
    stream_retire(
        tenant=app.tenant, application=app, tool="trivy", branch="main", target="", actor="t"
    )


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(application_lock, id="import"),
        pytest.param(lambda app: match_application_components(app.pk), id="advisory-match"),
        pytest.param(_retire, id="stream-retirement"),
    ],
)
def test_the_lock_lets_foreign_key_checks_through_but_not_a_second_writer(writer):
    app = ApplicationFactory()
    with transaction.atomic():
        writer(app)
        # What PostgreSQL's foreign-key trigger runs at COMMIT for a row that references it.
        fk_check = "SELECT 1 FROM findings_application WHERE id = %s FOR KEY SHARE"
        assert _in_other_connection(fk_check, app.pk) == "ok"
        # A second import's lock (the same FOR NO KEY UPDATE) still waits for the first.
        second = "SELECT 1 FROM findings_application WHERE id = %s FOR NO KEY UPDATE"
        assert _in_other_connection(second, app.pk) == "LockNotAvailable"
