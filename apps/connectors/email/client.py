"""E-mail: a plain-text message per notice to the integration's recipients, sent through
Django's e-mail backend with the server-wide SMTP settings (EMAIL_HOST, EMAIL_PORT,
EMAIL_HOST_USER / EMAIL_HOST_PASSWORD, EMAIL_USE_TLS = STARTTLS, EMAIL_TIMEOUT,
DEFAULT_FROM_EMAIL; fixops/settings/components/email.py). An integration holds recipients
only: no SMTP credentials per tenant, so a tenant cannot point FixOps at an internal host.

Failures are classified like HTTP ones: a server that is down, slow (EMAIL_TIMEOUT), drops
the connection or answers 4xx ("try again later") is transient; a 5xx answer (relay denied,
unknown recipient, authentication refused) is permanent. SMTP cannot edit or find a message,
so e-mail is post-only (channels.py).
"""

from __future__ import annotations

import smtplib
import ssl
from typing import ClassVar

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.core.validators import validate_email

from apps.connectors.base import Ticket
from apps.connectors.channels import PostOnlyConnector
from apps.connectors.email import mapping
from apps.connectors.schema import ConfigField
from fixops.platform.http.errors import PermanentError, TransientError

MAX_RECIPIENTS = 50


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    return getattr(exc, "smtp_code", None)


def classify(exc: Exception) -> Exception:
    """The outbound error an SMTP failure means (transient or permanent)."""
    code = _smtp_code(exc)
    message = f"smtp: {type(exc).__name__}: {exc}"[:1000]
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        message = f"smtp: the server refused EMAIL_HOST_USER's credentials: {exc}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        message = f"smtp: the server's TLS certificate was refused: {exc}"
    if code is not None:
        # 4yz: "try again later" (greylisting, a full queue); 5yz: refused for good.
        transient = 400 <= code < 500
    else:
        transient = isinstance(
            exc, OSError | smtplib.SMTPException | TimeoutError
        ) and not isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError)
    return TransientError(message) if transient else PermanentError(message)


class EmailConnector(PostOnlyConnector):
    kind: ClassVar[str] = "email"
    base_url_used = False
    base_url_help = (
        "Not used for sending (the server's SMTP settings are; it is not contacted): "
        "give your FixOps URL."
    )
    fields = (
        ConfigField(
            "recipients",
            "Recipients",
            type="list",
            help=f"E-mail addresses (up to {MAX_RECIPIENTS}).",
        ),
        ConfigField(
            "subject_prefix",
            "Subject prefix",
            default="[FixOps]",
            help="Put before every subject.",
        ),
    )

    @classmethod
    def validate(cls, credentials: dict, settings: dict) -> dict[str, str]:
        errors = super().validate(credentials, settings)
        if "settings.recipients" in errors or not isinstance(settings, dict):
            return errors
        recipients = settings.get("recipients") or []
        if not recipients or len(recipients) > MAX_RECIPIENTS:
            errors["settings.recipients"] = f"give 1 to {MAX_RECIPIENTS} addresses"
            return errors
        bad = []
        for address in recipients:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            errors["settings.recipients"] = "not e-mail addresses: " + ", ".join(bad[:5])
        return errors

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.recipients = list(self.settings["recipients"])
        self.prefix = str(self.settings.get("subject_prefix", "[FixOps]")).strip()
        # Every SMTP socket operation is bounded: by EMAIL_TIMEOUT, and never longer than the
        # connector's own budget (the outbox lease, a person waiting on "Test connection").
        self.smtp_timeout = min(float(django_settings.EMAIL_TIMEOUT), float(sum(self.timeout)))

    def _connection(self):
        return get_connection(fail_silently=False, timeout=self.smtp_timeout)

    def test_connection(self) -> str:
        connection = self._connection()
        try:
            connection.open()
        except Exception as exc:
            raise classify(exc) from None
        finally:
            connection.close()
        host = getattr(connection, "host", "") or "the e-mail backend"
        return f"SMTP server {host} accepted the connection; {len(self.recipients)} recipient(s)"

    def post(self, ticket: Ticket, *, action: str) -> None:
        message = EmailMessage(
            subject=mapping.subject(self.prefix, ticket, action),
            body=mapping.body(ticket),
            from_email=django_settings.DEFAULT_FROM_EMAIL,
            to=self.recipients,
            headers=mapping.headers(ticket),
            connection=self._connection(),
        )
        try:
            message.send(fail_silently=False)
        except Exception as exc:
            raise classify(exc) from None
