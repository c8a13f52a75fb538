"""Prepare a load-test database: the scale dataset at a small size, then API tokens spread over
its tenants, written to a JSON file the locustfile reads (`python -m tests.load.prepare`).

Run by tools/loadtest.py with the stack's environment (DATABASE_URL and the rest) after
`migrate`. Each tenant gets one CI token (narrowed to scans and decisions, as a pipeline's
token would be, shared by every CI user of that tenant: a company's CI system holds one) and a
few analyst tokens (shared round-robin by its analysts). Users are spread over tenants
Zipf-like in the locustfile, so the big tenant's single CI token is the one that meets
FIXOPS_UPLOAD_RATE first: throttling is part of the picture, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

CI_SCOPES = ["scans:read", "scans:write", "decisions:read", "decisions:write"]
ACTOR = "command:loadtest"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="tokens file to write")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--applications", type=int, default=400)
    parser.add_argument("--findings", type=int, default=20_000, help="the big tenant's")
    parser.add_argument("--other-findings", type=int, default=500)
    parser.add_argument("--analyst-tokens", type=int, default=5, help="per tenant")
    parser.add_argument("--apps-per-tenant", type=int, default=20, help="CI users upload to")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fixops.settings.base")
    import django

    django.setup()
    from django.core.management import call_command

    from apps.findings.models import Application
    from apps.tenants.models import Tenant
    from apps.tenants.roles import Role
    from apps.tenants.services import api_token_issue

    started = time.perf_counter()
    call_command(
        "generate_dataset",
        tenants=args.tenants,
        applications=args.applications,
        findings=args.findings,
        other_findings=args.other_findings,
        big_tenant="load-big",
        prefix="load",
        reset=True,
        verbosity=0,
    )
    generated = time.perf_counter() - started
    stamp = time.strftime("%Y%m%dT%H%M%S")
    tenants = []
    # The big tenant first: the locustfile gives the first tenant the largest share of users.
    for slug in ["load-big"] + [f"load-{i:03d}" for i in range(1, args.tenants)]:
        tenant = Tenant.objects.get(slug=slug)
        ci = api_token_issue(
            tenant=tenant, name=f"load ci {stamp}", role=Role.ANALYST, scopes=CI_SCOPES,
            actor=ACTOR,
        )  # fmt: skip
        analysts = [
            api_token_issue(
                tenant=tenant, name=f"load analyst {n} {stamp}", role=Role.ANALYST, actor=ACTOR
            ).plaintext
            for n in range(args.analyst_tokens)
        ]
        names = list(
            Application.objects.filter(tenant=tenant)
            .order_by("pk")
            .values_list("name", flat=True)[: args.apps_per_tenant]
        )
        tenants.append(
            {"slug": slug, "ci_token": ci.plaintext, "analyst_tokens": analysts,
             "applications": names}
        )  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"tenants": tenants}, indent=1))
    args.out.chmod(0o600)  # live tokens of a test database, still secrets
    sys.stderr.write(
        f"prepared {len(tenants)} tenants ({args.findings} + {args.other_findings} findings "
        f"each) in {generated:.1f} s; tokens in {args.out}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
