"""Outgoing e-mail (the `email` notification channel, apps/connectors/email): one SMTP server
for the whole installation, read from the environment. EMAIL_USE_TLS is STARTTLS (usually port
587), EMAIL_USE_SSL implicit TLS (465); never both. EMAIL_TIMEOUT bounds every SMTP socket
operation: Django's default (None) would let a silent server hold a worker forever."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from fixops.env import env

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="FixOps <fixops@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS (STARTTLS) and EMAIL_USE_SSL are exclusive")
