"""The one HTTP client every provider uses: auth, proactive rate limiting, retries with jitter, statistics."""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from sis_pipeline.errors import AuthError, ClientError, NetworkError, RateLimitError, ServerError
from sis_pipeline.providers.auth import ClientCredentialsAuth

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines would print every URL we call

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_RETRY_AFTER_SECONDS = 120.0


class RetryableResponse(Exception):
    """A 429 or 5xx answer worth asking again, with the server's requested wait if it gave one."""

    def __init__(self, status: int, path: str, retry_after: float | None, detail: str):
        super().__init__(f"HTTP {status} on {path}: {detail}")
        self.status, self.path, self.retry_after = status, path, retry_after


@dataclass
class ApiStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        ordered = sorted(self.latencies)

        def percentile(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1) if ordered else 0.0

        return {
            "requests": self.requests,
            "retries": self.retries,
            "throttled": self.throttled,
            "bytes": self.bytes,
            "latency_p50_ms": percentile(0.50),
            "latency_p95_ms": percentile(0.95),
        }


class RateLimiter:
    """Spaces request starts evenly to stay under a requests-per-minute budget, and caps concurrency."""

    def __init__(self, requests_per_minute: int | None, max_concurrency: int):
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_start = 0.0
        self._lock = threading.Lock()
        self.max_concurrency = max_concurrency
        self.slots = threading.BoundedSemaphore(max_concurrency)

    def wait_turn(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            time.sleep(start - now)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` as seconds or an HTTP date, else `X-RateLimit-Reset` (epoch seconds), capped."""
    value = headers.get("retry-after")
    wait = None
    if value:
        try:
            wait = float(value)
        except ValueError:
            try:
                wait = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                wait = None
    elif headers.get("x-ratelimit-reset"):
        try:
            wait = float(headers["x-ratelimit-reset"]) - time.time()
        except ValueError:
            wait = None
    return None if wait is None else min(max(wait, 0.0), MAX_RETRY_AFTER_SECONDS)


class ApiClient:
    """Reads JSON for one integration; every call shares that integration's limiter, token and stats."""

    def __init__(
        self,
        base_url: str,
        auth: ClientCredentialsAuth | None,
        *,
        http: httpx.Client,
        requests_per_minute: int | None = None,
        max_concurrency: int = 4,
        max_attempts: int = 6,
        describe_error=lambda response: response.text[:200],
        # Whether an answer means "this token is no longer good": refresh it and replay once.
        token_rejected: Callable[[httpx.Response], bool] = lambda response: response.status_code == 401,
    ):
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.auth = auth
        self.limiter = RateLimiter(requests_per_minute, max_concurrency)
        self.stats = ApiStats()
        self._max_attempts = max_attempts
        self._describe_error = describe_error
        self._token_rejected = token_rejected

    def get(self, path_or_url: str, params: dict | None = None) -> httpx.Response:
        return self.request("GET", path_or_url, params)

    def request(self, method: str, path_or_url: str, params: dict | None = None, json_body=None) -> httpx.Response:
        """A successful response; transient failures are retried, the rest raise a classified SyncError.

        Only reads belong here (a GET, or a POST that searches): every attempt may be repeated.
        """
        url = path_or_url if path_or_url.startswith("http") else f"{self.base_url}/{path_or_url.lstrip('/')}"
        retrying = Retrying(
            retry=retry_if_exception_type((RetryableResponse, httpx.TransportError)),
            wait=self._wait,
            stop=stop_after_attempt(self._max_attempts),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, params, json_body)
        except RetryableResponse as exc:
            error = RateLimitError if exc.status == 429 else ServerError
            raise error(f"{exc} (gave up after {self._max_attempts} attempts)") from None
        except httpx.TransportError as exc:
            raise NetworkError(f"{type(exc).__name__} calling {httpx.URL(url).path} after {self._max_attempts} attempts") from None

    def _attempt(self, method: str, url: str, params: dict | None, json_body) -> httpx.Response:
        response = self._send(method, url, params, json_body)
        if self.auth is not None and self._token_rejected(response):
            self.auth.invalidate(response.request.headers["authorization"].removeprefix("Bearer "))
            response = self._send(method, url, params, json_body)  # one replay with a fresh token
        path = response.request.url.path
        if response.status_code == 429 or response.status_code >= 500:
            if response.status_code == 429:
                self.stats.throttled += 1
            raise RetryableResponse(
                response.status_code, path, retry_after_seconds(response.headers), self._describe_error(response)
            )
        if response.status_code in (401, 403):
            raise AuthError(f"HTTP {response.status_code} on {path}: {self._describe_error(response)}")
        if response.status_code >= 400:
            raise ClientError(f"HTTP {response.status_code} on {path}: {self._describe_error(response)}")
        return response

    def _send(self, method: str, url: str, params: dict | None, json_body) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self.auth is not None:
            headers["Authorization"] = f"Bearer {self.auth.bearer()}"
        with self.limiter.slots:
            self.limiter.wait_turn()
            started = time.perf_counter()
            response = self.http.request(method, url, params=params, json=json_body, headers=headers)
            self.stats.latencies.append(time.perf_counter() - started)
        self.stats.requests += 1
        self.stats.bytes += len(response.content)
        return response

    @staticmethod
    def _wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            return exc.retry_after
        return wait_random_exponential(multiplier=0.5, max=30)(state)  # full jitter

    def _log_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        reason = str(exc) if isinstance(exc, RetryableResponse) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("retry %d after %s; waiting %.1fs", state.attempt_number, reason, wait)
