"""`--actor USER` for management commands: the command then runs with that user's role in
the tenant, checked by the same rules as the API and the admin. Without it a command acts
as the host operator (who could run `manage.py shell` anyway)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from apps.tenants.models import Tenant
from apps.tenants.roles import role_at_least
from apps.tenants.selectors import user_role_in


def add_actor_argument(parser) -> None:
    parser.add_argument(
        "--actor",
        default=None,
        help="Act as this user: the command needs their role in the tenant (default: operator)",
    )


def resolve_actor(username: str | None, *, tenant: Tenant, minimum: str):
    """The acting user when --actor is given (CommandError unless their role suffices)."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no active user named {username!r}")
    role = user_role_in(user=user, tenant=tenant)
    if role is None or not role_at_least(role, minimum):
        raise CommandError(
            f"{username} needs the {minimum} role in {tenant.slug} for this; "
            f"they have {role or 'no membership'}"
        )
    return user
