"""Response headers every page carries: CSP (django-csp), Permissions-Policy, frame-ancestors.

HSTS, nosniff, Referrer-Policy, COOP and X-Frame-Options are Django's own (base.py). The
policy allows no inline script or style anywhere: the admin, the login pages and the API docs
load everything from /static/.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from fixops.env import env
from fixops.settings.components.auth import FIXOPS_OIDC_PROVIDERS


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_extra_form_actions = sorted(
    {
        *env.list("FIXOPS_CSP_FORM_ACTION", default=[]),
        *(
            _origin(p["issuer"])
            for p in FIXOPS_OIDC_PROVIDERS
            if isinstance(p, dict) and isinstance(p.get("issuer"), str)
        ),
    }
)

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        # Sign-in forms post here; SSO redirects after a form post need the IdP origins
        # (FIXOPS_CSP_FORM_ACTION, plus the OIDC issuers, added by the auth component).
        "form-action": [SELF, *_extra_form_actions],
    },
}
CONTENT_SECURITY_POLICY_REPORT_ONLY = None

FIXOPS_PERMISSIONS_POLICY = env.str(
    "FIXOPS_PERMISSIONS_POLICY",
    default=(
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=()"
    ),
)
