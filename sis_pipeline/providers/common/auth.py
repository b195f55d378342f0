"""OAuth 2.0 client credentials with proactive refresh, serialised so concurrent requests ask once."""

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from sis_pipeline.errors import AuthError
from sis_pipeline.redact import register_secret, without_credentials

DEFAULT_REFRESH_MARGIN_SECONDS = 600.0


# Posts the token request's form (with the client's credentials, if sent as HTTP Basic) and returns the
# answer and its parsed body, retrying 5xx, 429 and network errors like every other call (http.py).
TokenSender = Callable[[str, dict, httpx.Auth | None], tuple[httpx.Response, Any]]


class TokenCache(Protocol):
    """Where tokens outlive a run (the warehouse, encrypted): see warehouse/tokens.py."""

    def load(self) -> tuple[str, datetime, float] | None: ...

    def save(self, token: str, issued_at: datetime, lifetime: float) -> None: ...

    def forget(self) -> None: ...


@dataclass
class AccessToken:
    value: SecretStr
    issued_at: float
    lifetime: float

    def refresh_due_at(self, margin: float) -> float:
        """Half-life or `margin` before expiry, whichever comes first (a token can die mid-sync otherwise).

        A token that lives shorter than the margin is refreshed at half-life, not before every request.
        """
        before_expiry = self.lifetime - margin
        half_life = self.lifetime / 2
        return self.issued_at + (min(half_life, before_expiry) if before_expiry > 0 else half_life)


class ClientCredentialsAuth:
    """Holds one integration's token; `bearer()` always returns one that is not about to expire."""

    def __init__(
        self,
        send: TokenSender,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        credentials_in: str = "basic",
        extra_form: dict[str, str] | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        clock=time.monotonic,
    ):
        self._send = send
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = SecretStr(client_secret)
        register_secret(client_secret)
        self._credentials_in = credentials_in
        self._extra_form = extra_form or {}
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refused: str | None = None  # why the token endpoint refused this client, once and for all
        self.refreshes = 0
        self.cache: TokenCache | None = None

    def bearer(self) -> str:
        with self._lock:
            if self._refused is not None:  # every collection would be refused again: ask once per client
                raise AuthError(self._refused)
            if self._token is None and self.cache is not None:
                self._token = self._cached_token()
            if self._token is None or self._clock() >= self._token.refresh_due_at(self._refresh_margin):
                self._token = self._request_token()
                if self.cache is not None:
                    issued = datetime.now(UTC)
                    self.cache.save(self._token.value.get_secret_value(), issued, self._token.lifetime)
            return self._token.value.get_secret_value()

    def invalidate(self, rejected: str) -> None:
        """Forget a token the server refused, unless another thread already replaced it."""
        with self._lock:
            if self._token is not None and self._token.value.get_secret_value() == rejected:
                self._token = None
                if self.cache is not None:
                    self.cache.forget()

    def _cached_token(self) -> AccessToken | None:
        """A token an earlier run stored, placed on this process's clock by its age."""
        stored = self.cache.load()
        if stored is None:
            return None
        token, issued_at, lifetime = stored
        register_secret(token)
        age = (datetime.now(UTC) - issued_at).total_seconds()
        return AccessToken(SecretStr(token), self._clock() - age, lifetime)

    def _request_token(self) -> AccessToken:
        form = {"grant_type": "client_credentials", **self._extra_form}
        auth = None
        if self._credentials_in == "basic":
            auth = httpx.BasicAuth(self._client_id, self._client_secret.get_secret_value())
        else:
            form |= {"client_id": self._client_id, "client_secret": self._client_secret.get_secret_value()}
        response, body = self._send(self.token_url, form, auth)
        where = f"token endpoint {without_credentials(self.token_url)}"
        if response.status_code != 200:  # 400/401: asking again with the same credentials cannot help
            self._refused = f"{where} refused client {self._client_id!r}: HTTP {response.status_code}"
            raise AuthError(self._refused)
        try:
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in") or 3600)  # PowerSchool sends expires_in as a string
        except (ValueError, KeyError, TypeError, AttributeError):
            raise AuthError(f"{where} answered without a usable access_token") from None
        register_secret(token)
        self.refreshes += 1
        return AccessToken(SecretStr(token), self._clock(), lifetime)
