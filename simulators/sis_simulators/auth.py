"""OAuth 2.0 client credentials: the token endpoint and bearer-token checks.

Tokens are random and opaque, as real providers issue them, so a client cannot get away with
decoding them or reusing one past `expires_in`.
"""

import base64
import binascii
import hmac
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

from sis_simulators.settings import SimulatorSettings


class TokenStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self.issued = 0

    def issue(self, ttl_seconds: int) -> str:
        now = self._clock()
        # Drop expired tokens as new ones are issued so a long benchmark cannot grow the store.
        self._expiry = {token: expiry for token, expiry in self._expiry.items() if expiry > now}
        token = secrets.token_urlsafe(32)
        self._expiry[token] = now + ttl_seconds
        self.issued += 1
        return token

    def is_valid(self, token: str) -> bool:
        expiry = self._expiry.get(token)
        return expiry is not None and expiry > self._clock()

    def expire_all(self) -> int:
        """Expire every issued token now, as a provider restart or revocation would."""
        expired = len(self._expiry)
        self._expiry.clear()
        return expired


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, client_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, client_secret
    if "client_id" in form:
        return form["client_id"], form.get("client_secret", "")
    return None


def _oauth_error(error: str, status: int, description: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="oneroster"'} if status == 401 else None
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def refused_token_request(status: int, description: str, headers: dict[str, str]) -> JSONResponse:
    """A token request turned away for now (RFC 6749's `temporarily_unavailable`), as a fault injects it."""
    body = {"error": "temporarily_unavailable", "error_description": description}
    return JSONResponse(body, status_code=status, headers=headers)


async def token_endpoint(request: Request, settings: SimulatorSettings, tokens: TokenStore) -> JSONResponse:
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {key: values[0] for key, values in parse_qs(body).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error("unsupported_grant_type", 400, "grant_type must be client_credentials")
    credentials = _client_credentials(request, form)
    if credentials is None:
        return _oauth_error("invalid_client", 401, "client credentials are required")
    client_id, client_secret = credentials
    id_ok = hmac.compare_digest(client_id.encode(), settings.client_id.encode())
    secret_ok = hmac.compare_digest(client_secret.encode(), settings.client_secret.encode())
    if not (id_ok and secret_ok):
        return _oauth_error("invalid_client", 401, "unknown client or wrong secret")
    token = tokens.issue(settings.token_ttl)
    return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": settings.token_ttl})
