"""Sign-in: local accounts (password + TOTP, lockout), OIDC and SAML single sign-on, sessions.

Identity providers are JSON in the environment (see docs/identity.md):
- FIXOPS_OIDC_PROVIDERS: a list of {"slug", "name", "issuer", "client_id", "client_secret", ...}
- FIXOPS_SAML_PROVIDERS: a list of {"slug", "name", "entity_id", "metadata_file" | "metadata_url"}
- FIXOPS_SSO_MAPPING: the default group/claim -> tenant + role rules (a provider's own "mapping"
  replaces it for that provider).
They are validated by a system check (`manage.py check`), not at import.
"""

from __future__ import annotations

from datetime import timedelta

from fixops.env import env

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses locked-out credentials before any backend checks them.
    "axes.backends.AxesBackend",
    # Local passwords (second factor enforced by the sign-in views).
    "django.contrib.auth.backends.ModelBackend",
    "apps.tenants.sso.oidc.OidcBackend",
    "apps.tenants.sso.saml.SamlBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/admin/"
LOGOUT_REDIRECT_URL = "login"

# Local login (username + password + TOTP). A deployment that signs everyone in through its
# IdP can switch it off; break-glass admins then use `manage.py` on the host.
FIXOPS_LOCAL_LOGIN = env.bool("FIXOPS_LOCAL_LOGIN", default=True)
FIXOPS_OIDC_PROVIDERS = env.json("FIXOPS_OIDC_PROVIDERS", default=[])
FIXOPS_SAML_PROVIDERS = env.json("FIXOPS_SAML_PROVIDERS", default=[])
FIXOPS_SSO_MAPPING = env.json("FIXOPS_SSO_MAPPING", default=[])
# Refuse an SSO sign-in whose groups grant no tenant (after removing stale memberships).
FIXOPS_SSO_REQUIRE_MEMBERSHIP = env.bool("FIXOPS_SSO_REQUIRE_MEMBERSHIP", default=True)
# The SAML entity id, ACS URL and metadata are built from FIXOPS_PUBLIC_URL (base.py);
# empty means the embedded default http://127.0.0.1:8000.

# OIDC (mozilla-django-oidc underneath): discovery and JWKS are cached; a token signed with an
# unknown key id refreshes the JWKS (IdP key rotation), at most once per min-refresh interval.
FIXOPS_OIDC_DISCOVERY_TTL = env.int("FIXOPS_OIDC_DISCOVERY_TTL", default=3600)
FIXOPS_OIDC_JWKS_TTL = env.int("FIXOPS_OIDC_JWKS_TTL", default=3600)
FIXOPS_OIDC_JWKS_MIN_REFRESH_SECONDS = env.int("FIXOPS_OIDC_JWKS_MIN_REFRESH_SECONDS", default=5)
OIDC_TIMEOUT = env.float("FIXOPS_OIDC_TIMEOUT", default=10.0)
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_STORE_ID_TOKEN = True  # kept for RP-initiated logout (id_token_hint)
OIDC_CREATE_USER = True
OIDC_VERIFY_SSL = True

# SAML (djangosaml2 + pysaml2 + xmlsec1). The SP key and certificate sign requests and
# metadata; IdP metadata comes from each provider's file or URL.
FIXOPS_SAML_SP_KEY_FILE = env.str("FIXOPS_SAML_SP_KEY_FILE", default="")
FIXOPS_SAML_SP_CERT_FILE = env.str("FIXOPS_SAML_SP_CERT_FILE", default="")
FIXOPS_SAML_XMLSEC = env.str("FIXOPS_SAML_XMLSEC", default="/usr/bin/xmlsec1")
# Seconds of clock skew tolerated on NotBefore / NotOnOrAfter.
FIXOPS_SAML_CLOCK_SKEW = env.int("FIXOPS_SAML_CLOCK_SKEW", default=60)
SAML_CONFIG_LOADER = "apps.tenants.sso.saml_views.sp_config"
SAML_SESSION_COOKIE_NAME = "fixops_saml"
# Loopback IdPs and same-site deployments post back same-site; a cross-site IdP needs None
# (and then a Secure cookie, i.e. HTTPS).
SAML_SESSION_COOKIE_SAMESITE = env.str("SAML_SESSION_COOKIE_SAMESITE", default="Lax")
SAML_CREATE_UNKNOWN_USER = True
SAML_ATTRIBUTE_MAPPING: dict = {}
SAML_DEFAULT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
SAML2_CUSTOM_POST_BINDING_FORM_TEMPLATE = "accounts/saml_post.html"
SAML_ACS_FAILURE_RESPONSE_FUNCTION = "apps.tenants.sso.saml_views.acs_failure"
SAML_IGNORE_AUTHENTICATED_USERS_ON_LOGIN = True

# Local accounts: TOTP (django-otp), recovery codes, lockout (django-axes).
FIXOPS_OTP_ISSUER = env.str("FIXOPS_OTP_ISSUER", default="FixOps")
FIXOPS_RECOVERY_CODES = env.int("FIXOPS_RECOVERY_CODES", default=10)
OTP_TOTP_ISSUER = FIXOPS_OTP_ISSUER
AXES_FAILURE_LIMIT = env.int("FIXOPS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("FIXOPS_LOGIN_COOLOFF_MINUTES", default=15))
# Per user *and* address: an attacker elsewhere cannot lock a real user out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_IPWARE_PROXY_COUNT = env.int("FIXOPS_PROXY_COUNT", default=0) or None

# Sessions: idle and absolute timeouts on top of SESSION_COOKIE_AGE; the key is rotated at
# every sign-in (django.contrib.auth.login cycles it).
FIXOPS_SESSION_IDLE_SECONDS = env.int("FIXOPS_SESSION_IDLE_SECONDS", default=3600)
FIXOPS_SESSION_ABSOLUTE_SECONDS = env.int("FIXOPS_SESSION_ABSOLUTE_SECONDS", default=12 * 3600)

# API tokens: new tenants require an expiry within this many days (0: no limit); a rotated
# token keeps working for the grace period so deployments can switch over.
FIXOPS_TOKEN_MAX_LIFETIME_DAYS = env.int("FIXOPS_TOKEN_MAX_LIFETIME_DAYS", default=365)
FIXOPS_TOKEN_ROTATION_GRACE_HOURS = env.int("FIXOPS_TOKEN_ROTATION_GRACE_HOURS", default=24)
