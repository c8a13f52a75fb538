"""Generate (and reset) the scale dataset: `dataset_generate`, behind `manage.py generate_dataset`.

One transaction: tenants, people, applications and integrations through the ORM (thousands of
rows), then every large table from the spooled files (tenant.py, text.py) by one COPY each,
with ids taken from each table's own sequence under a table lock (so the rows reference each
other without a round trip, and the sequences are left past them: later inserts do not
collide). The dataset keeps the app's invariants: the tenant on every row, the unique and
check constraints, the unchecked references pointing at real rows. ANALYZE after commit, so
the planner sees the new sizes at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from apps.connectors.models import Integration
from apps.findings.models import (
    Application,
    Finding,
    SlaPolicy,
)
from apps.policies.services import default_policy_ensure
from apps.tenants.models import Membership, Team, Tenant
from fixops.management.dataset import vocabulary as v
from fixops.management.dataset.plan import Context, People, spread
from fixops.management.dataset.tables import TABLES
from fixops.management.dataset.tenant import TenantGenerator
from fixops.management.dataset.text import TableFile
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict
from fixops.platform.models.event import Event

ACTOR = "command:generate_dataset"


@dataclass
class Spec:
    """What to generate (the command's options)."""

    tenants: int = 100
    applications: int = 10_000
    findings: int = 1_000_000
    other_findings: int = 1_000
    big_tenant: str = "bench-1m"
    prefix: str = "bench"
    seed: int = 1
    days: int = 180
    decision_days: int = 90
    reset: bool = False
    now: datetime | None = None

    def slugs(self) -> list[str]:
        """The big tenant first, then the small ones."""
        return [self.big_tenant] + [f"{self.prefix}-{i:03d}" for i in range(1, self.tenants)]


@dataclass
class Summary:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    tenant_ids: dict[str, int] = field(default_factory=dict)


def dataset_size(*, slug: str) -> int | None:
    """The number of findings of the dataset tenant `slug`, None when it does not exist."""
    tenant = Tenant.objects.filter(slug=slug).first()
    return None if tenant is None else Finding.objects.filter(tenant=tenant).count()


def dataset_reset(*, slugs: list[str], actor: str = ACTOR) -> int:
    """Delete the tenants `slugs` with every row they own and the users the generator made for
    them (raw DELETEs: the ORM's collector would load a million findings); returns how many
    tenants went. The audit log keeps their chains. Audited as `dataset.reset`."""
    with transaction.atomic():
        ids = list(Tenant.objects.filter(slug__in=slugs).values_list("pk", flat=True))
        if ids:
            _delete_tenants(ids)
            get_user_model().objects.filter(username__regex=_users_of(slugs)).delete()
        audit_record(
            tenant=None,
            actor=actor,
            action="dataset.reset",
            target_type="tenants.tenant",
            target_id=slugs[0],
            before={"tenants": len(ids), "slugs": slugs},
            after=None,
        )
    return len(ids)


def dataset_generate(*, spec: Spec, progress: Callable[[str], None] = lambda _: None) -> Summary:
    """Generate the dataset of `spec` (refused with Conflict when one of its tenants exists and
    `spec.reset` is false); returns rows per table and seconds per phase. Audited once as
    `dataset.generate` on the global chain with the counts."""
    summary = Summary()
    started = time.perf_counter()
    slugs = spec.slugs()
    if spec.reset:
        gone = dataset_reset(slugs=slugs)
        summary.seconds["reset"] = time.perf_counter() - started
        progress(f"reset: {gone} tenants deleted in {summary.seconds['reset']:.1f} s")
    if Tenant.objects.filter(slug__in=slugs).exists():
        raise Conflict(
            "A tenant of this dataset already exists; pass --reset to replace it.",
            code="dataset_exists",
        )
    rng = random.Random(spec.seed)  # noqa: S311 - test data, not secrets
    now = spec.now or timezone.now()
    with transaction.atomic():
        mark = time.perf_counter()
        setups = _setup(spec, slugs, rng, now)
        summary.tenant_ids = {slug: setup[0].pk for slug, setup in zip(slugs, setups, strict=True)}
        summary.seconds["setup"] = time.perf_counter() - mark
        progress(f"setup: {len(slugs)} tenants in {summary.seconds['setup']:.1f} s")
        files = {name: TableFile(model, fields) for name, (model, fields) in TABLES.items()}
        try:
            mark = time.perf_counter()
            starts = _reserve(files)
            ctx = Context(
                rng=rng,
                now=now,
                days=spec.days,
                decision_days=spec.decision_days,
                files=files,
                next_ids=dict(starts),
                catalogue=v.vulnerabilities(rng, 4000),
                policy_version_id=default_policy_ensure().active_version_id,
            )
            # Findings, the largest and most indexed table, stream into their COPY while the
            # rows are made: the server indexes them on the other core meanwhile.
            with _copy_stream(files["finding"]):
                # The small tenants first: the big tenant's rows get the newest ids, as a
                # tenant that grew to a million would have (and as the planner's newest-first
                # scans over the primary key expect).
                for i, setup in [*enumerate(setups)][1:] + [(0, setups[0])]:
                    total = spec.findings if i == 0 else spec.other_findings
                    _tenant_rows(ctx, setup, total, progress if i == 0 else None)
            summary.rows["finding"] = files["finding"].rows
            summary.seconds["generate and copy findings"] = time.perf_counter() - mark
            progress(f"generated rows in {summary.seconds['generate and copy findings']:.1f} s")
            for name, table in files.items():
                if name == "finding":
                    continue
                mark = time.perf_counter()
                _copy(table)
                summary.rows[name] = table.rows
                summary.seconds[f"copy {name}"] = time.perf_counter() - mark
                progress(
                    f"copy {name}: {table.rows} rows in {summary.seconds[f'copy {name}']:.1f} s"
                )
            _advance_sequences(files, ctx.next_ids)
        finally:
            for table in files.values():
                table.close()
        summary.rows.update(_setup_counts(setups))
        audit_record(
            tenant=None,
            actor=ACTOR,
            action="dataset.generate",
            target_type="tenants.tenant",
            target_id=spec.big_tenant,
            before=None,
            after={"tenants": len(slugs), "seed": spec.seed, "rows": summary.rows},
        )
    mark = time.perf_counter()
    _analyze(files)
    summary.seconds["analyze"] = time.perf_counter() - mark
    summary.seconds["total"] = time.perf_counter() - started
    return summary


# --- setup through the ORM --------------------------------------------------------------------


def _users_of(slugs: list[str]) -> str:
    return "^(" + "|".join(slug.replace("-", "\\-") for slug in slugs) + ")\\."


def _setup(spec: Spec, slugs: list[str], rng: random.Random, now: datetime) -> list[tuple]:
    """Per tenant: (tenant, SLA policy, People, applications as tuples)."""
    tenants = Tenant.objects.bulk_create(
        Tenant(slug=slug, name=f"Bench {slug}", created_at=now - timedelta(days=spec.days + 30))
        for slug in slugs
    )
    big_apps = spec.applications if len(slugs) == 1 else max(1, spec.applications // 10)
    others = spread(max(spec.applications - big_apps, len(slugs) - 1), len(slugs) - 1, rng, 0.3)
    setups = []
    for i, tenant in enumerate(tenants):
        big = i == 0
        # The big tenant tightens KEV and SSVC deadlines, so overrides show in due_at.
        policy = SlaPolicy.objects.create(
            tenant=tenant,
            kev_days=14 if big else None,
            ssvc_days={"Act": 7, "Attend": 21} if big else {},
        )
        people = _people(tenant, rng, users=40 if big else 4, teams=6 if big else 1, now=now)
        apps = _applications(tenant, big_apps if big else others[i - 1], rng, now)
        setups.append((tenant, policy, people, apps))
    return setups


def _people(tenant: Tenant, rng: random.Random, *, users: int, teams: int, now) -> People:
    user_model = get_user_model()
    made = user_model.objects.bulk_create(
        user_model(
            username=f"{tenant.slug}.{_first_name(n)}",
            email=f"{_first_name(n)}@{tenant.slug}.example.com",
            password=make_password(None),
            date_joined=now - timedelta(days=200),
        )
        for n in range(users)
    )
    roles = [v.weighted(rng, v.ROLE_SHARES) for _ in made]
    roles[0] = "admin"
    Membership.objects.bulk_create(
        Membership(user=user, tenant=tenant, role=role)
        for user, role in zip(made, roles, strict=True)
    )
    team_rows = Team.objects.bulk_create(
        Team(tenant=tenant, name=v.TEAMS[n % len(v.TEAMS)]) for n in range(teams)
    )
    Team.members.through.objects.bulk_create(
        Team.members.through(team=team, user=user)
        for team in team_rows
        for user in rng.sample(made, min(len(made), 4))
    )
    integration = Integration.objects.create(
        tenant=tenant,
        kind="jira",
        name="Jira (dataset)",
        base_url="https://jira.example.com",
        settings={"project_key": "SEC"},
        # Disabled: the dataset's ticket links are history; nothing should reach the host.
        enabled=False,
    )
    pairs = [(user.pk, user.username) for user in made]
    approvers = [
        pair for pair, role in zip(pairs, roles, strict=True) if role in ("approver", "admin")
    ]
    return People(pairs, approvers, [team.pk for team in team_rows], integration.pk)


def _first_name(n: int) -> str:
    name = v.FIRST_NAMES[n % len(v.FIRST_NAMES)]
    return f"{name}{n // len(v.FIRST_NAMES)}" if n >= len(v.FIRST_NAMES) else name


def _applications(tenant: Tenant, count: int, rng: random.Random, now) -> list[tuple]:
    rows = []
    for n in range(count):
        word = v.WORDS[n % len(v.WORDS)]
        suffix = v.SUFFIXES[(n // len(v.WORDS)) % len(v.SUFFIXES)]
        rows.append(
            Application(
                tenant=tenant,
                name=f"{word}-{suffix}-{n:04d}",
                repo_url=f"https://git.example.com/{tenant.slug}/{word}-{suffix}-{n:04d}",
                criticality=v.weighted(rng, v.CRITICALITY_SHARES),
                internet_exposed=rng.random() < 0.35,
                data_classification=v.weighted(rng, v.DATA_SHARES),
                owners=[f"{word}-team@example.com"],
                created_at=now - timedelta(days=rng.randint(190, 400)),
            )
        )
    made = Application.objects.bulk_create(rows, batch_size=2000)
    return [(a.pk, a.name, a.criticality, a.internet_exposed, a.data_classification) for a in made]


def _setup_counts(setups: list[tuple]) -> dict[str, int]:
    return {
        "tenants": len(setups),
        "applications": sum(len(s[3]) for s in setups),
        "users": sum(len(s[2].users) for s in setups),
        "teams": sum(len(s[2].teams) for s in setups),
    }


def _tenant_rows(ctx: Context, setup: tuple, total: int, progress) -> None:
    tenant, policy, people, apps = setup
    generator = TenantGenerator(
        ctx, tenant_id=tenant.pk, slug=tenant.slug, policy=policy, people=people
    )
    shares = spread(total, len(apps), ctx.rng)
    done, step = 0, max(total // 10, 1)
    for app, share in zip(apps, shares, strict=True):
        generator.application(app, share)
        done += share
        if progress and done // step != (done - share) // step:
            progress(f"  {tenant.slug}: {done}/{total} findings generated")


# --- COPY and sequences -----------------------------------------------------------------------


def _reserve(files: dict[str, TableFile]) -> dict[str, int]:
    """Lock the tables against other writers and take the next id of each sequence."""
    starts = {}
    with connection.cursor() as cursor:
        for name, table in files.items():
            db_table = table.model._meta.db_table
            cursor.execute(f'LOCK TABLE "{db_table}" IN SHARE ROW EXCLUSIVE MODE')  # noqa: S608 - model metadata
            cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [db_table])
            starts[name] = cursor.fetchone()[0]
    return starts


def _copy_sql(table: TableFile) -> str:
    db_table = connection.ops.quote_name(table.model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in table.columns)
    return f"COPY {db_table} ({columns}) FROM STDIN"  # noqa: S608 - model metadata


def _copy(table: TableFile) -> None:
    with connection.cursor() as cursor, cursor.copy(_copy_sql(table)) as copy:
        for chunk in table.chunks():
            copy.write(chunk)


@contextmanager
def _copy_stream(table: TableFile):
    """`table`'s rows go to its COPY as they are added, until the block ends. The connection
    runs nothing else meanwhile: the generator reads nothing from the database."""
    with connection.cursor() as cursor, cursor.copy(_copy_sql(table)) as copy:
        table.sink = copy.write
        try:
            yield
            table.flush()
        finally:
            table.sink = None


def _advance_sequences(files: dict[str, TableFile], next_ids: dict[str, int]) -> None:
    """Leave each sequence at the last id used, so the application's next insert follows."""
    with connection.cursor() as cursor:
        for name, table in files.items():
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                [table.model._meta.db_table, next_ids[name] - 1 if table.rows else next_ids[name]],
            )


def _analyze(files: dict[str, TableFile]) -> None:
    """Statistics for the planner; outside a transaction also VACUUM, which sets the
    visibility map (index-only scans and capped counts then skip the heap), as autovacuum
    would some time later."""
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in files.values():
            cursor.execute(f'{command} "{table.model._meta.db_table}"')  # noqa: S608 - model metadata


# --- reset ------------------------------------------------------------------------------------


def _tenant_owned() -> list[type[models.Model]]:
    """Models whose rows belong to a tenant through a `tenant` foreign key."""
    owned = []
    for model in django_apps.get_models(include_auto_created=True):
        try:
            tenant_field = model._meta.get_field("tenant")
        except FieldDoesNotExist:
            continue
        if getattr(tenant_field, "related_model", None) is Tenant:
            owned.append(model)
    return owned


def _skip_row_checks(cursor) -> bool:
    """Skip the per-row foreign-key checks of this transaction when the role may (superuser):
    every row that references a deleted one is deleted with it, and some references have no
    index on their side (a stream's first and last scan), so checking each of a million
    deleted scans would scan the streams as often. Other roles keep the checks (slower)."""
    try:
        with transaction.atomic():
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True


def _delete_tenants(ids: list[int]) -> None:
    """Every row of the tenants `ids`: rows of models that belong to a tenant-owned row (M2M
    links, attempts of outbox messages, versions of a tenant's policies) first, then the
    tenant-owned rows, then the platform events and the tenants. Constraints are deferred to
    the commit, so the order within is free."""
    owned = _tenant_owned()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        skipped = _skip_row_checks(cursor)
        for model in django_apps.get_models(include_auto_created=True):
            if model in owned or model is Tenant:
                continue
            for fk in model._meta.concrete_fields:
                parent = getattr(fk, "related_model", None)
                if fk.is_relation and parent in owned:
                    cursor.execute(
                        f"DELETE FROM {quote(model._meta.db_table)} t USING "  # noqa: S608 - model metadata
                        f"{quote(parent._meta.db_table)} p WHERE t.{quote(fk.column)} = p.id "
                        "AND p.tenant_id = ANY(%s)",
                        [ids],
                    )
        for model in owned:
            cursor.execute(
                f"DELETE FROM {quote(model._meta.db_table)} WHERE tenant_id = ANY(%s)",  # noqa: S608 - model metadata
                [ids],
            )
        for table in (Event._meta.db_table, Tenant._meta.db_table):
            column = "id" if table == Tenant._meta.db_table else "tenant_id"
            cursor.execute(f"DELETE FROM {quote(table)} WHERE {column} = ANY(%s)", [ids])  # noqa: S608
        if skipped:  # the users' deletion and the audit row that follow are checked again
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")
