from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from apps.tenants.accounts.otp import otp_reset


class Command(BaseCommand):
    help = (
        "Remove a local user's second factors (lost phone and recovery codes); they enrol a "
        "new authenticator at their next sign-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        removed = otp_reset(user=user, actor="command:otp_reset")
        self.stdout.write(
            f"removed {removed} second-factor device(s) of {username}; "
            "they set up a new authenticator at their next sign-in"
        )
