"""What the chaos test asks of FixOps on its private stack, run in a process of its own with
the stack's DATABASE_URL and CELERY_BROKER_URL (the test process keeps pytest's database):

    python -m tests.ops.chaos_actions seed <gitlab url>          -> {"tenant", "integration"}
    python -m tests.ops.chaos_actions tickets <integration> <first> <count>
    python -m tests.ops.chaos_actions upload <tenant> <application> <results> <offset> -> scan id

Uploads go through the pipeline's own `scan_submit` (queued for a worker: the test sets
FIXOPS_INGEST_ASYNC_BYTES=1) and tickets through the outbox's `enqueue`, as the API would.
"""

from __future__ import annotations

import json
import sys

import django


def main(argv: list[str]) -> None:
    django.setup()
    from django.core.management import call_command

    from apps.connectors.services import integration_create
    from apps.pipeline.ingest import scan_submit
    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_create
    from tests.connectors.factories import enqueue_tickets
    from tests.fakes.gitlab import FakeGitLab
    from tests.findings.reports import many, sarif, upload

    command, *args = argv
    if command == "seed":
        call_command("sync_schedules", verbosity=0)
        tenant = tenant_create(slug="chaos", name="Chaos")
        fake = FakeGitLab()
        fake._port = int(args[0].rsplit(":", 1)[1])  # the test's fake: only its config is used
        config = fake.config()
        integration = integration_create(
            tenant=tenant, kind="gitlab", name="gitlab", base_url=config["base_url"],
            credentials=config["credentials"], settings=config["settings"],
        )  # fmt: skip
        print(json.dumps({"tenant": tenant.pk, "integration": integration.pk}))  # noqa: T201
    elif command == "tickets":
        from apps.connectors.models import Integration

        integration = Integration.objects.get(pk=int(args[0]))
        print(enqueue_tickets(integration, int(args[2]), start=int(args[1])))  # noqa: T201
    elif command == "upload":
        tenant = Tenant.objects.get(pk=int(args[0]))
        report = sarif(many(int(args[2]), offset=int(args[3])))
        scan, _ = scan_submit(
            tenant=tenant, upload=upload(report), application_ref=args[1],
            create_application=True, uploaded_by="chaos",
        )  # fmt: skip
        print(scan.pk)  # noqa: T201
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
