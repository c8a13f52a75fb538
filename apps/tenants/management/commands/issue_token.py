from django.core.management.base import BaseCommand, CommandError

from apps.tenants.management.actor import add_actor_argument, resolve_actor
from apps.tenants.roles import Role
from apps.tenants.selectors import tenant_get_by_slug
from apps.tenants.services import api_token_issue, expiry_in_days
from fixops.platform.errors import DomainError


class Command(BaseCommand):
    help = "Issue an API token. Prints only the token on stdout (details go to stderr)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. ci-main")
        parser.add_argument("--role", default=Role.ANALYST, choices=[r.value for r in Role])
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            help="Default: the tenant's maximum token lifetime (never, if it has none)",
        )
        parser.add_argument(
            "--scopes", default="", help="Comma-separated scopes (default: all the role allows)"
        )
        add_actor_argument(parser)

    def handle(self, *args, tenant: str, name: str, role: str, expires_days, scopes, **options):
        target = tenant_get_by_slug(slug=tenant)
        if target is None:
            raise CommandError(f"no tenant named {tenant!r}")
        actor = resolve_actor(options.get("actor"), tenant=target, minimum=Role.ADMIN)
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days")
        try:
            issued = api_token_issue(
                tenant=target,
                name=name,
                role=role,
                scopes=[s for s in scopes.split(",") if s.strip()],
                expires_at=expiry_in_days(expires_days),
                created_by=actor,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"issued token {issued.token.prefix} ({role}) for {target.slug}; it is shown once"
        )
        self.stdout.write(issued.plaintext)
