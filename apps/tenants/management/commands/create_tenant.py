from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="URL-safe identifier, e.g. acme")
        parser.add_argument("--name", default="", help="Display name (defaults to the slug)")

    def handle(self, *args, slug: str, name: str, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, actor="command:create_tenant")
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"created tenant {tenant.slug} (id {tenant.pk})")
