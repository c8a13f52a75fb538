"""Generate the scale dataset: one big tenant (1,000,000 findings by default) among small ones.

    manage.py generate_dataset                        # 100 tenants, 10,000 apps, 1M findings
    manage.py generate_dataset --findings 10000 --tenants 3 --applications 30 --reset

For benchmarks and capacity tests on PostgreSQL (docs/operations.md, "Scale dataset and
benchmarks"); run it on a quiet database: it locks the tables it loads until it commits.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from fixops.management.dataset.build import Spec, dataset_generate
from fixops.platform.errors import Conflict


class Command(BaseCommand):
    help = "Generate a large, realistic dataset (COPY-based; PostgreSQL only)."

    def add_arguments(self, parser) -> None:
        defaults = Spec()
        parser.add_argument(
            "--tenants",
            type=int,
            default=defaults.tenants,
            help="Tenants in all, the big one included (default 100).",
        )
        parser.add_argument(
            "--applications",
            type=int,
            default=defaults.applications,
            help="Applications in all: a tenth to the big tenant, the rest "
            "spread over the others (default 10000).",
        )
        parser.add_argument(
            "--findings",
            type=int,
            default=defaults.findings,
            help="Findings of the big tenant (default 1000000).",
        )
        parser.add_argument(
            "--other-findings",
            type=int,
            default=defaults.other_findings,
            help="Findings of each other tenant (default 1000).",
        )
        parser.add_argument(
            "--big-tenant",
            default=defaults.big_tenant,
            help="Slug of the big tenant (default bench-1m).",
        )
        parser.add_argument(
            "--prefix",
            default=defaults.prefix,
            help="Slug prefix of the other tenants: <prefix>-001... (default bench).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=defaults.seed,
            help="Random seed: the same options and seed give the same data.",
        )
        parser.add_argument(
            "--days",
            type=int,
            default=defaults.days,
            help="History window of scans and findings in days (default 180).",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete this dataset's tenants (and their users) first.",
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("generate_dataset needs PostgreSQL (it loads with COPY).")
        if options["tenants"] < 1 or options["findings"] < 0 or options["applications"] < 1:
            raise CommandError("--tenants and --applications must be >= 1, --findings >= 0.")
        spec = Spec(
            tenants=options["tenants"],
            applications=options["applications"],
            findings=options["findings"],
            other_findings=options["other_findings"],
            big_tenant=options["big_tenant"],
            prefix=options["prefix"],
            seed=options["seed"],
            days=options["days"],
            reset=options["reset"],
        )
        try:
            summary = dataset_generate(spec=spec, progress=self.stdout.write)
        except Conflict as error:
            raise CommandError(str(error)) from error
        self.stdout.write("rows:")
        for name, count in summary.rows.items():
            self.stdout.write(f"  {name:16} {count:>10}")
        self.stdout.write("seconds:")
        for name, seconds in summary.seconds.items():
            self.stdout.write(f"  {name:24} {seconds:8.1f}")
        self.stdout.write(self.style.SUCCESS(f"dataset ready: tenant {spec.big_tenant}"))
