"""The one HTTP client every provider uses: auth, proactive rate limiting, retries with jitter, statistics."""

import itertools
import logging
import time
from datetime import UTC, datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from email.utils import parsedate_to_datetime

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from sis_pipeline.errors import AuthError, ClientError, NetworkError, RateLimitError, ServerError
from sis_pipeline.providers.common.auth import ClientCredentialsAuth
from sis_pipeline.providers.common.guards import guards_for

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines would print every URL we call

MAX_RETRY_AFTER_SECONDS = 120.0


class ForbiddenError(AuthError):
    """HTTP 403 with a good token: this client may not read this resource (a plugin without access to a table)."""

    status = 403


class NotFoundError(ClientError):
    """HTTP 404: the resource is not there (or, on some SIS, not shown to this client)."""

    status = 404


# What an optional call may meet without failing the run: the SIS refuses this client that resource.
REFUSED = (ForbiddenError, NotFoundError)


@dataclass(frozen=True)
class _Call:
    """One logical request; the retry loop sends it again as a whole."""

    method: str
    url: str
    params: dict | None = None
    json_body: Any = None
    form: dict | None = None
    client_auth: httpx.Auth | None = None  # the token request's client credentials (HTTP Basic)
    parse_json: bool = False
    token_request: bool = False  # no Bearer header, no replay; a 4xx answer goes back to the caller


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
    # the audit trail: one entry per HTTP exchange (method, path and query, status, ms, bytes, attempt, when)
    calls: list[dict] = field(default_factory=list)

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


def retry_after_seconds(headers: httpx.Headers, cap: float = MAX_RETRY_AFTER_SECONDS) -> float | None:
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
    if wait is not None and wait > cap:
        log.warning("the SIS asked to wait %.0fs; waiting the configured maximum of %.0fs", wait, cap)
    return None if wait is None else min(max(wait, 0.0), cap)


# 19 digits or more in a row, inside a string or not: Python's json parses such a body, orjson could round a
# number. Found by mapping every digit to "1" and searching for 19 of them: a regex scan cost as much CPU as
# parsing the page (4.4-5.8 ms of a 1,000-record page against 0.34 ms; parsing it takes 5-10 ms).
_DIGITS_AS_ONES = bytes.maketrans(b"0123456789", b"1" * 10)
_LONG_NUMBER = b"1" * 19


def has_long_number(content: bytes) -> bool:
    return _LONG_NUMBER in content.translate(_DIGITS_AS_ONES)


def parse_json(response: httpx.Response):
    """The body as JSON: orjson (several times faster on a page of a thousand records), or Python's json for
    what orjson refuses but a SIS may send: escaped lone surrogates, integers past 64 bits, NaN. Those
    records are marked for rejection later (staging.py); a body that neither parses raises ValueError."""
    content = response.content
    if not has_long_number(content):  # orjson would turn an integer past 64 bits into a float
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
    return response.json()


def describe_json_error(message_key: str) -> Callable[[httpx.Response], str]:
    """Reads an error body's `message_key` field, or the start of whatever was sent."""

    def describe(response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:200] or response.reason_phrase
        message = body.get(message_key) if isinstance(body, dict) else None
        return str(message or body)[:200]

    return describe


class ApiClient:
    """Reads JSON for one integration; every call shares that integration's limiter, breaker, token and stats."""

    def __init__(
        self,
        base_url: str,
        auth: ClientCredentialsAuth | None,
        *,
        http: httpx.Client,
        name: str,
        requests_per_minute: int | None = None,
        max_concurrency: int = 4,
        max_attempts: int = 6,
        max_throttled_attempts: int = 12,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        describe_error=lambda response: response.text[:200],
        # Whether an answer means "this token is no longer good": refresh it and replay once.
        token_rejected: Callable[[httpx.Response], bool] = lambda response: response.status_code == 401,
    ):
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.auth = auth
        guards = guards_for(name, requests_per_minute, max_concurrency)
        self.limiter, self.breaker = guards.limiter, guards.breaker
        self.stats = ApiStats()
        self._max_attempts = max_attempts
        self._max_throttled_attempts = max_throttled_attempts
        self._max_retry_after = max_retry_after
        self._describe_error = describe_error
        self._token_rejected = token_rejected

    def url_for(self, path_or_url: str, params: dict | None = None) -> str:
        """The absolute URL a request goes to: a path is read under the API root."""
        url = path_or_url if path_or_url.startswith("http") else f"{self.base_url}/{path_or_url.lstrip('/')}"
        return str(httpx.URL(url, params=params)) if params else url

    def get(self, path_or_url: str, params: dict | None = None) -> httpx.Response:
        return self.request("GET", path_or_url, params)

    def get_json(self, path_or_url: str, params: dict | None = None):
        """The parsed body; a body cut short in transit is asked for again like any transient failure."""
        return self.request("GET", path_or_url, params, parse_json=True)[1]

    def request(self, method: str, path_or_url: str, params: dict | None = None, json_body=None, *, parse_json=False):
        """A successful response (with its parsed body when `parse_json`); transient failures are retried.

        Errors (connection, timeout, 5xx, unreadable body) and throttling (429) each have their own
        retry budget, so a throttling burst cannot use up the attempts meant for a flaky network.
        Only reads belong here (a GET, or a POST that searches): every attempt may be repeated.
        """
        call = _Call(method, self.url_for(path_or_url), params=params, json_body=json_body, parse_json=parse_json)
        return self._retried(call)

    def token_request(self, url: str, form: dict, client_auth: httpx.Auth | None) -> tuple[httpx.Response, object]:
        """The token endpoint's answer and parsed body, after the same retries, budgets and breaker as any call.

        A 4xx answer is handed back for the caller to judge: a refused client is refused again if asked again.
        """
        call = _Call("POST", url, form=form, client_auth=client_auth, parse_json=True, token_request=True)
        return self._retried(call)

    def _retried(self, call: "_Call"):
        budget = _RetryBudget(self._max_attempts, self._max_throttled_attempts)
        attempts = itertools.count(1)
        retrying = Retrying(
            retry=retry_if_exception_type((RetryableResponse, httpx.TransportError)),
            wait=self._wait,
            stop=budget.exhausted,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, call, attempts)
        except RetryableResponse as exc:
            error = RateLimitError if exc.status == 429 else ServerError
            raise error(f"{exc} (gave up after {budget.describe()})") from None
        except httpx.TransportError as exc:
            path = httpx.URL(call.url).path
            raise NetworkError(f"{type(exc).__name__} calling {path} (gave up after {budget.describe()})") from None

    def _attempt(self, call: "_Call", attempts):
        # A token request is a request of its own through these guards: ask for the token before this
        # request claims the breaker's one trial, or a recovering SIS could never be asked for a token.
        bearer = self._bearer(call)
        self.breaker.before_request()
        try:
            response = self._send(call, next(attempts), bearer)
            if bearer is not None and self._token_rejected(response):
                self.breaker.record_success()  # the SIS answered: alive, and the refresh must find the breaker closed
                self.auth.invalidate(bearer)
                response = self._send(call, next(attempts), self._bearer(call))  # one replay, fresh token
        except httpx.TransportError:
            self.breaker.record_failure("network")
            raise
        path = response.request.url.path
        if response.status_code == 429:
            self.stats.throttled += 1
            self.breaker.record_success()  # a throttling SIS is alive: it asks us to slow down, not to stop
            wait = retry_after_seconds(response.headers, self._max_retry_after)
            raise RetryableResponse(429, path, wait, self._describe_error(response))
        if response.status_code >= 500:
            self.breaker.record_failure("server")
            raise RetryableResponse(response.status_code, path, None, self._describe_error(response))
        if call.token_request and response.status_code >= 400:
            self.breaker.record_success()
            return response, None
        if response.status_code == 403:
            self.breaker.record_success()
            raise ForbiddenError(f"HTTP 403 on {path}: {self._describe_error(response)}")
        if response.status_code == 401:
            self.breaker.record_success()
            raise AuthError(f"HTTP {response.status_code} on {path}: {self._describe_error(response)}")
        if response.status_code == 404:
            self.breaker.record_success()
            raise NotFoundError(f"HTTP 404 on {path}: {self._describe_error(response)}")
        if response.status_code >= 400:
            self.breaker.record_success()
            raise ClientError(f"HTTP {response.status_code} on {path}: {self._describe_error(response)}")
        body = None
        if call.parse_json:
            try:
                body = parse_json(response)
            except ValueError:
                self.breaker.record_failure("server")
                raise RetryableResponse(response.status_code, path, None, "the body is not complete JSON (cut short?)") from None
        self.breaker.record_success()
        return (response, body) if call.parse_json else response

    def _bearer(self, call: "_Call") -> str | None:
        return None if self.auth is None or call.token_request else self.auth.bearer()

    def _send(self, call: "_Call", attempt: int, bearer: str | None) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        audited = {"method": call.method, "path": _audited_path(call.url, call.params), "attempt": attempt,
                   "called_at": datetime.now(UTC)}
        with self.limiter.slots:
            self.limiter.wait_turn()
            started = time.perf_counter()
            self.stats.requests += 1
            try:
                response = self.http.request(
                    call.method, call.url, params=call.params, json=call.json_body, data=call.form,
                    auth=call.client_auth or httpx.USE_CLIENT_DEFAULT, headers=headers,
                )
            except httpx.TransportError as exc:
                self._record(audited, started, status=None, size=0, error=type(exc).__name__)
                raise
        self._record(audited, started, status=response.status_code, size=len(response.content))
        return response

    def _record(self, call: dict, started: float, *, status: int | None, size: int, error: str | None = None) -> None:
        elapsed = time.perf_counter() - started
        self.stats.latencies.append(elapsed)
        self.stats.bytes += size
        self.stats.calls.append(call | {"status": status, "error": error, "duration_ms": round(elapsed * 1000, 1), "bytes": size})

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


class _RetryBudget:
    """Separate attempt budgets for errors and for throttling, counted across one request's attempts."""

    def __init__(self, max_attempts: int, max_throttled_attempts: int):
        self.max_errors, self.max_throttled = max_attempts, max_throttled_attempts
        self.errors = self.throttled = 0

    def exhausted(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.status == 429:
            self.throttled += 1
        else:
            self.errors += 1
        return self.errors >= self.max_errors or self.throttled >= self.max_throttled

    def describe(self) -> str:
        return f"{self.errors} failed and {self.throttled} throttled attempts"


def _audited_path(url: str, params: dict | None) -> str:
    """Path and query of a call, for the audit trail; credentials never travel in our URLs, and
    anything that looks like one is masked anyway."""
    from sis_pipeline.redact import redact

    full = httpx.URL(url, params=params) if params else httpx.URL(url)
    query = f"?{full.query.decode()}" if full.query else ""
    return redact(f"{full.path}{query}")[:1000]
