"""The import lock on an application serialises imports without blocking foreign keys.

Found by the load test (docs/operations.md, "Load test"): an import held the application row
FOR UPDATE and then waited for the tenant's audit chain head, while a decision on the same
application held that head and, at COMMIT, ran its deferred foreign-key check on the
application (FOR KEY SHARE, which FOR UPDATE blocks): PostgreSQL killed one as a deadlock and
POST /decisions/ answered 500. The lock is now FOR NO KEY UPDATE, which still excludes a
second import but lets rows that reference the application be checked and committed.
"""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from apps.findings.services import application_lock
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


def test_the_import_lock_lets_foreign_key_checks_through_but_not_a_second_import():
    app = ApplicationFactory()
    with transaction.atomic():
        application_lock(app)
        # What PostgreSQL's foreign-key trigger runs at COMMIT for a row that references it.
        fk_check = "SELECT 1 FROM findings_application WHERE id = %s FOR KEY SHARE"
        assert _in_other_connection(fk_check, app.pk) == "ok"
        # A second import's lock (the same FOR NO KEY UPDATE) still waits for the first.
        second = "SELECT 1 FROM findings_application WHERE id = %s FOR NO KEY UPDATE"
        assert _in_other_connection(second, app.pk) == "LockNotAvailable"
