"""Single sign-on: OIDC (mozilla-django-oidc) and SAML 2.0 (djangosaml2), one shared mapping
from IdP groups/claims to tenant memberships and roles, and just-in-time provisioning."""
