from django.core.management.base import BaseCommand, CommandError

from apps.tenants.management.actor import add_actor_argument, resolve_actor
from apps.tenants.roles import Role
from apps.tenants.selectors import api_token_get_by_prefix
from apps.tenants.services import api_token_revoke


class Command(BaseCommand):
    help = "Revoke an API token by its prefix (the part after fxo_)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")
        add_actor_argument(parser)

    def handle(self, *args, prefix: str, **options):
        # Accept a whole token pasted by mistake, but only ever print its prefix.
        if prefix.startswith("fxo_"):
            prefix = prefix.split("_")[1]
        token = api_token_get_by_prefix(prefix=prefix)
        if token is None:
            raise CommandError(f"no token with prefix {prefix!r}")
        resolve_actor(options.get("actor"), tenant=token.tenant, minimum=Role.ADMIN)
        already = token.revoked_at is not None
        api_token_revoke(token=token, actor="command:revoke_token")
        state = "was already revoked" if already else "revoked"
        self.stdout.write(
            f"token {token.prefix} ({token.name}, tenant {token.tenant.slug}) {state}"
        )
