"""Who may call the Generic API: Qmlativ's client-credentials token and how it refuses an old one.

Qmlativ clients ask for a token with a GET and HTTP Basic credentials; a standard OAuth POST with a
form body works too. A token the server no longer honours is answered with 403 "Token has expired"
(or 401, a setting), which an OAuth client that only refreshes on 401 never recovers from.
"""

import base64
import binascii
import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sis_simulators.auth import TokenStore, bearer_token
from sis_simulators.oneroster_app import json_response
from sis_simulators.qmlativ.settings import QmlativSettings

TOKEN_EXPIRED = "Token has expired"
NOT_AUTHORISED = "Authorization has been denied for this request."


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    """HTTP Basic credentials, else `client_id` and `client_secret` in the form."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, separator, client_secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (client_id, client_secret) if separator else None
    if "client_id" in form:
        return form["client_id"], form.get("client_secret", "")
    return None


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="Qmlativ"'} if status == 401 else None
    return json_response({"error": error, "error_description": description}, status, headers)


async def token_endpoint(request: Request, settings: QmlativSettings, tokens: TokenStore) -> Response:
    form = dict(request.query_params)
    if request.method == "POST":
        form |= {key: values[0] for key, values in parse_qs((await request.body()).decode("utf-8", errors="replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    credentials = _credentials(request, form)
    if credentials is None:
        return _oauth_error(401, "invalid_client", "client credentials are required")
    id_ok = hmac.compare_digest(credentials[0].encode(), settings.client_id.encode())
    secret_ok = hmac.compare_digest(credentials[1].encode(), settings.client_secret.encode())
    if not (id_ok and secret_ok):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    token = tokens.issue(settings.token_ttl)
    return json_response({"access_token": token, "token_type": "bearer", "expires_in": settings.token_ttl})


def refused(request: Request, settings: QmlativSettings, tokens: TokenStore) -> Response | None:
    """The answer to a call without a token the server honours; None when the call may proceed."""
    token = bearer_token(request)
    if token is None:
        return json_response({"Message": NOT_AUTHORISED}, 401, {"WWW-Authenticate": "Bearer"})
    if not tokens.is_valid(token):
        return json_response({"Message": TOKEN_EXPIRED}, settings.expired_token_status)
    return None
