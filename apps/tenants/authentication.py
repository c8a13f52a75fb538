"""`Authorization: Bearer fxo_...` authentication for the API."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from apps.tenants.models import ApiToken
from apps.tenants.services import TokenError, api_token_authenticate


class TokenPrincipal:
    """The request's user when it authenticated with an API token (no Django user behind it)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.username = f"token:{token.prefix}"

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None  # another scheme (e.g. Basic) is not ours to judge
        value = value.strip()
        if not value or " " in value:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = api_token_authenticate(value)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
        return TokenPrincipal(token), token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="fixops"'
