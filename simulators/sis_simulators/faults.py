"""Switchable, reproducible faults for the OneRoster API, so an operator can rehearse a bad night.

Faults meet OneRoster API requests only (list and single-record GETs), never /admin; the token
endpoint meets only its own fault, `token_refusals` (the next N token requests refused with
`token_refusal_status`), counted apart so it never shifts the API requests' schedule. Which request
meets which random fault follows `random.Random(fault_seed)`, drawn in a fixed order for every API
request, so the same sequence of requests meets the same faults. Changing the fault settings or
resetting the simulator starts that schedule again from the seed.
"""

import asyncio
import math
import random
import socket
import struct
import time
from argparse import ArgumentParser, Namespace
from collections import Counter, deque
from dataclasses import dataclass, field, fields, replace
from email.utils import formatdate
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response

RATES = ("server_error_rate", "connection_reset_rate", "truncated_page_rate", "slow_page_rate")
# Each is a request count; 0 switches the fault off.
COUNTS = ("throttle_burst_every", "revoke_tokens_after", "expire_tokens_every", "strict_requests_per_minute")
DURATIONS = ("retry_after_seconds", "slow_page_seconds")
RETRY_AFTER_STYLES = ("seconds", "http_date")
SERVER_ERROR_STATUSES = (500, 502, 503)
# What a refused token request is answered: a gateway's 5xx, or 429 with the burst's Retry-After.
TOKEN_REFUSAL_STATUSES = (429, *SERVER_ERROR_STATUSES)
STRICT_WINDOW_SECONDS = 60.0
COUNTERS = (
    "server_errors", "throttled", "token_revocations", "tokens_expired",
    "connection_resets", "truncated_pages", "slow_pages", "rate_limit_violations", "token_refusals",
)
# SO_LINGER on with a zero timeout: closing sends a TCP reset instead of an orderly FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _setting(default, help_text: str):
    return field(default=default, metadata={"help": help_text})


@dataclass
class FaultSettings:
    """The faults an API request may meet; the defaults inject none."""

    server_error_rate: float = _setting(0.0, "fraction of API requests answered 500, 502 or 503")
    throttle_burst_every: int = _setting(0, "every Nth API request starts a burst of 429 answers (0: off)")
    throttle_burst_length: int = _setting(3, "consecutive 429 answers in a burst")
    retry_after_seconds: float = _setting(1.0, "the wait a burst's 429 asks for, rounded up to whole seconds")
    retry_after_style: str = _setting("seconds", "Retry-After as delay-seconds or as an HTTP-date")
    revoke_tokens_after: int = _setting(0, "revoke every issued token once, after this many successful API requests")
    expire_tokens_every: int = _setting(0, "each token stops working after serving this many API requests (0: off)")
    connection_reset_rate: float = _setting(0.0, "fraction of API requests reset before any response")
    truncated_page_rate: float = _setting(0.0, "fraction of list pages sent 200 with the body cut in half")
    slow_page_rate: float = _setting(0.0, "fraction of API requests answered only after slow_page_seconds")
    slow_page_seconds: float = _setting(5.0, "how long a slow page takes")
    strict_requests_per_minute: int = _setting(0, "refuse 429 beyond this many API requests in any 60 seconds (0: off)")
    token_refusals: int = _setting(0, "refuse the next N token requests with token_refusal_status (0: off)")
    token_refusal_status: int = _setting(503, "status of a refused token request: 429 (with Retry-After), 500, 502 or 503")
    fault_seed: int = _setting(7, "seed of the fault schedule: the same seed, the same faults")

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        for name in RATES:
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(f"faults.{name} must be a fraction from 0 to 1, got {value!r}")
        for name in COUNTS:
            value = getattr(self, name)
            if not _is_whole(value) or value < 0:
                raise ValueError(f"faults.{name} must be a whole number of requests >= 0 (0 is off), got {value!r}")
        for name in DURATIONS:
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"faults.{name} must be a number of seconds >= 0, got {value!r}")
        if not _is_whole(self.token_refusals) or self.token_refusals < 0:
            raise ValueError(f"faults.token_refusals must be a whole number of requests >= 0 (0 is off), got {self.token_refusals!r}")
        if self.token_refusal_status not in TOKEN_REFUSAL_STATUSES:
            statuses, status = TOKEN_REFUSAL_STATUSES, self.token_refusal_status
            raise ValueError(f"faults.token_refusal_status must be one of {statuses}, got {status!r}")
        length = self.throttle_burst_length
        if not _is_whole(length) or length < 1:
            raise ValueError(f"faults.throttle_burst_length must be a positive whole number, got {length!r}")
        if self.throttle_burst_every and length >= self.throttle_burst_every:
            raise ValueError(
                f"faults.throttle_burst_length ({length}) must be shorter than throttle_burst_every "
                f"({self.throttle_burst_every}) so requests get through between bursts"
            )
        if self.retry_after_style not in RETRY_AFTER_STYLES:
            styles, style = RETRY_AFTER_STYLES, self.retry_after_style
            raise ValueError(f"faults.retry_after_style must be one of {styles}, got {style!r}")
        if not _is_whole(self.fault_seed):
            raise ValueError(f"faults.fault_seed must be a whole number, got {self.fault_seed!r}")

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) for name in RATES + COUNTS)

    def changed(self, changes) -> "FaultSettings":
        """A validated copy with `changes` (a mapping of some fault settings) applied."""
        if not isinstance(changes, dict):
            raise ValueError("faults must be an object of fault settings")
        known = [setting.name for setting in fields(self)]
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"faults has no setting {sorted(unknown)}; known: {known}")
        return replace(self, **changes)


class Refusal(NamedTuple):
    status: int
    description: str
    headers: dict[str, str]


@dataclass(frozen=True)
class RequestFaults:
    """What one API request meets: a refusal instead of an answer, or a reset, delay or cut body."""

    refusal: Refusal | None = None
    reset_connection: bool = False
    delay_seconds: float = 0.0
    truncate: bool = False


NO_FAULTS = RequestFaults()


def retry_after_value(seconds: float, style: str, now: float) -> str:
    """`Retry-After` as delay-seconds or an HTTP-date, rounded up so a client never retries early."""
    if style == "http_date":
        return formatdate(math.ceil(now + seconds), usegmt=True)
    return str(math.ceil(seconds))


class FaultInjector:
    """Decides which faults each API request meets, and counts what it injected."""

    def __init__(self):
        self._admitted_starts: deque[float] = deque()
        self._faults = FaultSettings()
        self.reset()

    def reset(self) -> None:
        """Zero the counters and start the schedule again; the settings stay as they are."""
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.api_requests = 0
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None
        self.token_requests = 0
        self.first_token_request_at: float | None = None
        self.last_token_request_at: float | None = None
        self._admitted_starts.clear()
        self._restart(self._faults)

    def _restart(self, faults: FaultSettings) -> None:
        self._faults = faults
        self._rng = random.Random(faults.fault_seed)
        self._position = 0
        self._successes = 0
        self._revoked = False
        self._token_uses: Counter[str] = Counter()
        self._tokens_refused = 0

    def plan(self, faults: FaultSettings, serves_list: bool) -> RequestFaults:
        """The faults the next API request meets; `faults` are the settings in force."""
        now = time.time()
        self.api_requests += 1
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        if faults is not self._faults:
            self._restart(faults)
        if not faults.enabled:
            return NO_FAULTS
        self._position += 1
        draws = {name: self._rng.random() for name in RATES}
        server_error_status = self._rng.choice(SERVER_ERROR_STATUSES)

        if faults.strict_requests_per_minute:
            wait = self._strict_wait(faults.strict_requests_per_minute)
            if wait is not None:
                self.counts["rate_limit_violations"] += 1
                limit = faults.strict_requests_per_minute
                return self._throttled(wait, f"more than {limit} requests in {STRICT_WINDOW_SECONDS:.0f} seconds", now)
        if draws["connection_reset_rate"] < faults.connection_reset_rate:
            self.counts["connection_resets"] += 1
            return RequestFaults(reset_connection=True)
        every = faults.throttle_burst_every
        if every and self._position >= every and self._position % every < faults.throttle_burst_length:
            self.counts["throttled"] += 1
            return self._throttled(faults.retry_after_seconds, "too many requests; the SIS is shedding load", now)
        if draws["server_error_rate"] < faults.server_error_rate:
            self.counts["server_errors"] += 1
            return RequestFaults(refusal=Refusal(server_error_status, "the SIS is busy; try again later", {}))
        slow = draws["slow_page_rate"] < faults.slow_page_rate
        if slow:
            self.counts["slow_pages"] += 1
        truncate = serves_list and draws["truncated_page_rate"] < faults.truncated_page_rate
        return RequestFaults(delay_seconds=faults.slow_page_seconds if slow else 0.0, truncate=truncate)

    def plan_token(self, faults: FaultSettings) -> Refusal | None:
        """The refusal the next token request meets, if any; `faults` are the settings in force."""
        now = time.time()
        self.token_requests += 1
        self.first_token_request_at = self.first_token_request_at or now
        self.last_token_request_at = now
        if faults is not self._faults:
            self._restart(faults)
        if self._tokens_refused >= faults.token_refusals:
            return None
        self._tokens_refused += 1
        self.counts["token_refusals"] += 1
        if faults.token_refusal_status == 429:
            return self._throttled(faults.retry_after_seconds, "too many token requests", now).refusal
        return Refusal(faults.token_refusal_status, "the authorisation server is unavailable", {})

    def _throttled(self, wait: float, description: str, now: float) -> RequestFaults:
        retry_after = retry_after_value(wait, self._faults.retry_after_style, now)
        return RequestFaults(refusal=Refusal(429, description, {"Retry-After": retry_after}))

    def _strict_wait(self, limit: int) -> float | None:
        """Seconds until the sliding minute has room, or None when this request is admitted into it."""
        now = time.monotonic()
        while self._admitted_starts and self._admitted_starts[0] <= now - STRICT_WINDOW_SECONDS:
            self._admitted_starts.popleft()
        if len(self._admitted_starts) < limit:
            self._admitted_starts.append(now)
            return None
        # The limit may have been lowered below the window's count: wait until enough starts age out.
        oldest_to_leave = self._admitted_starts[len(self._admitted_starts) - limit]
        return oldest_to_leave + STRICT_WINDOW_SECONDS - now

    def admits_token(self, token: str) -> bool:
        """False once `token` has served `expire_tokens_every` API requests; call after `plan`."""
        every = self._faults.expire_tokens_every
        if not every:
            return True
        uses = self._token_uses[token]
        if uses >= every:
            return False
        self._token_uses[token] = uses + 1
        if uses + 1 == every:
            self.counts["tokens_expired"] += 1
        return True

    def answered(self, status: int) -> bool:
        """Count an answer; True exactly once, when every issued token is to be revoked now."""
        after = self._faults.revoke_tokens_after
        if not after or self._revoked or not 200 <= status < 300:
            return False
        self._successes += 1
        if self._successes < after:
            return False
        self._revoked = True
        self.counts["token_revocations"] += 1
        return True

    def truncate(self, response: Response) -> Response:
        """The response with its body cut in half and a Content-Length that matches the cut body."""
        response.body = response.body[: len(response.body) // 2]
        response.headers["content-length"] = str(len(response.body))
        self.counts["truncated_pages"] += 1
        return response

    def stats(self) -> dict:
        """Counts of injected faults, and the API and token requests seen (Unix times of the first and last)."""
        requests = {"count": self.api_requests, "first_at": self.first_request_at, "last_at": self.last_request_at}
        token_requests = {
            "count": self.token_requests, "first_at": self.first_token_request_at, "last_at": self.last_token_request_at,
        }
        return {**self.counts, "api_requests": requests, "token_requests": token_requests}


async def reset_connection(request: Request) -> Response:
    """Drop the client's connection with a TCP reset before any response, as a crashing SIS does.

    ASGI cannot close a connection, so this reaches uvicorn's transport through `receive`, which
    uvicorn binds to its request cycle. The returned response is never sent: the cycle is gone.
    """
    transport = request.receive.__self__.transport
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()
    await asyncio.sleep(0)  # uvicorn marks the cycle disconnected, so it neither sends nor logs anything
    return Response(status_code=204)


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_fault_options(parser: ArgumentParser) -> None:
    """One `--<setting>` option per fault setting, e.g. `--server-error-rate 0.05`."""
    group = parser.add_argument_group("faults", "rehearse a bad night: every fault is off by default")
    defaults = FaultSettings()
    for setting in fields(FaultSettings):
        default = getattr(defaults, setting.name)
        choices = {"retry_after_style": RETRY_AFTER_STYLES, "token_refusal_status": TOKEN_REFUSAL_STATUSES}.get(setting.name)
        help_text = f"{setting.metadata['help']}; default {default}"
        group.add_argument(_option(setting.name), type=setting.type, choices=choices, default=default, help=help_text)


def fault_settings_from_options(args: Namespace) -> FaultSettings:
    return FaultSettings(**{setting.name: getattr(args, setting.name) for setting in fields(FaultSettings)})


def fault_options(faults: FaultSettings) -> list[str]:
    """The options that start a simulator process with these faults."""
    return [part for setting in fields(faults) for part in (_option(setting.name), str(getattr(faults, setting.name)))]
