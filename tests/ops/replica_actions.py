"""The read-replica experiment, run in a process of its own with DATABASE_URL (the primary)
and DATABASE_REPLICA_URL (its streaming standby) set: `python -m tests.ops.replica_actions`.
Prints one JSON document of what each read saw and where it ran (tests/ops/test_read_replica.py
asserts it).

The replica's WAL replay is paused after the first import, so a read that reaches the replica
sees the old count and a read on the primary the new one: the count tells where a read ran.
The queries each alias ran are counted too.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import django


def main() -> None:
    django.setup()
    from django.db import connections, transaction
    from django.utils import timezone

    from apps.findings.models import Finding
    from apps.pipeline.ingest import scan_submit
    from apps.tenants.services import tenant_create
    from apps.workspace.analytics import snapshot
    from apps.workspace.selectors import analytics_summary
    from apps.workspace.services import analytics_refresh
    from fixops.platform import dbrouter
    from tests.findings.reports import many, sarif, upload

    ran: Counter = Counter()

    def counter(alias):
        def wrapper(execute, sql, params, many_, context):
            ran[alias] += 1
            return execute(sql, params, many_, context)

        return wrapper

    for alias in ("default", "replica"):
        connections[alias].execute_wrappers.append(counter(alias))

    def caught_up() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            target = cursor.fetchone()[0]
        deadline = time.monotonic() + 30
        with connections["replica"].cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])
                if cursor.fetchone()[0]:
                    return
                time.sleep(0.1)
        raise SystemExit("the replica did not catch up in 30 s")

    def open_findings(tenant) -> int:
        return snapshot.compute(tenant, now=timezone.now())["open"]["total"]

    def where(fn):
        before = ran.copy()
        value = fn()
        return value, {a: ran[a] - before[a] for a in ("default", "replica")}

    tenant = tenant_create(slug="replica", name="Replica")
    scan_submit(tenant=tenant, upload=upload(sarif(many(12))), application_ref="shop",
                create_application=True, uploaded_by="replica")  # fmt: skip
    caught_up()
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        standby = cursor.fetchone()[0]
        cursor.execute("SELECT pg_wal_replay_pause()")
    # Eight more findings on the primary, not replayed on the paused replica.
    scan_submit(tenant=tenant, upload=upload(sarif(many(8, offset=100))), application_ref="api",
                create_application=True, uploaded_by="replica")  # fmt: skip
    out: dict = {"standby": standby}
    # The unit of work above wrote: replica-safe reads stay on the primary.
    out["after_write"] = where(lambda: open_findings(tenant))
    dbrouter.start_unit_of_work()  # the next request or task
    out["fresh_unit"] = where(lambda: open_findings(tenant))
    with transaction.atomic():
        out["in_atomic"] = where(lambda: open_findings(tenant))
    dbrouter.start_unit_of_work()
    out["not_marked"] = where(lambda: Finding.objects.filter(tenant=tenant).count())
    dbrouter.start_unit_of_work()
    out["refresh"] = where(lambda: analytics_refresh(tenant_id=tenant.pk))
    dbrouter.start_unit_of_work()
    summary, routed = where(lambda: analytics_summary(tenant=tenant))
    out["summary"] = [summary["open"]["total"], routed]
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    caught_up()
    dbrouter.start_unit_of_work()
    out["resumed"] = where(lambda: open_findings(tenant))
    print(json.dumps(out))  # noqa: T201


if __name__ == "__main__":
    main()
