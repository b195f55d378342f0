"""Who may call the API and how often: the plugin's OAuth token and PowerSchool's request throttle.

The token endpoint takes only HTTP Basic client credentials, as PowerSchool does, and answers
`expires_in` as a JSON string. The throttle enforces a minimum interval between the plugin's
requests, as a district administrator can configure it.
"""

import base64
import binascii
import hmac
import math
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sis_simulators.auth import TokenStore, bearer_token
from sis_simulators.oneroster_app import json_response
from sis_simulators.powerschool.errors import ApiError
from sis_simulators.powerschool.settings import PowerSchoolSettings


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        client_id, separator, client_secret = decoded.partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, client_secret) if separator else None


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="PowerSchool"'} if status == 401 else None
    return json_response({"error": error, "error_description": description}, status, headers)


async def token_endpoint(request: Request, settings: PowerSchoolSettings, tokens: TokenStore) -> Response:
    credentials = _basic_credentials(request)
    if credentials is None:
        return _oauth_error(401, "invalid_client", "HTTP Basic client credentials are required")
    id_ok = hmac.compare_digest(credentials[0].encode(), settings.client_id.encode())
    secret_ok = hmac.compare_digest(credentials[1].encode(), settings.client_secret.encode())
    if not (id_ok and secret_ok):
        return _oauth_error(401, "invalid_client", "Bad client credentials")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    token = tokens.issue(settings.token_ttl)
    return json_response({"access_token": token, "token_type": "Bearer", "expires_in": str(settings.token_ttl)})


def check_token(request: Request, tokens: TokenStore) -> None:
    token = bearer_token(request)
    if token is None:
        headers = {"WWW-Authenticate": "Bearer"}
        raise ApiError(401, "Authorization required: send a Bearer access token", headers=headers)
    if not tokens.is_valid(token):
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        raise ApiError(401, "Invalid or expired access token", headers=headers)


class Throttle:
    """At most one request per `interval` seconds per plugin; refused requests do not count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._last_admitted: dict[str, float] = {}

    def admit(self, plugin: str, interval: float) -> None:
        now = self._clock()
        last = self._last_admitted.get(plugin)
        if interval > 0 and last is not None and now - last < interval:
            wait = max(1, math.ceil(interval - (now - last)))
            raise ApiError(429, f"Too many requests: wait {wait} seconds", headers={"Retry-After": str(wait)})
        self._last_admitted[plugin] = now
