"""What protects a district's SIS from us and us from it: a request-rate limiter and a circuit breaker.

Both are shared by every request of one integration in this process (every provider instance, every
thread), so two steps or two collections cannot together exceed the district's limits.
"""

import threading
import time
from dataclasses import dataclass

from sis_pipeline.errors import SyncError

DEFAULT_FAILURE_THRESHOLD = 8
DEFAULT_COOLDOWN_SECONDS = 60.0


class RateLimiter:
    """Spaces request starts evenly to stay under a requests-per-minute budget, and caps concurrency."""

    def __init__(self, requests_per_minute: int | None, max_concurrency: int, clock=time.monotonic, sleep=time.sleep):
        self.requests_per_minute = requests_per_minute
        self.max_concurrency = max_concurrency
        self._interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_start = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep
        self.slots = threading.BoundedSemaphore(max_concurrency)

    def wait_turn(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self._interval
        if start > now:
            self._sleep(start - now)


class CircuitOpenError(SyncError):
    """The integration's SIS failed too often in a row: its run fails fast instead of hammering it."""

    def __init__(self, message: str, error_class: str):
        super().__init__(message)
        self.error_class = error_class


class CircuitBreaker:
    """Opens after `threshold` consecutive failed requests; lets one trial request through after `cooldown`."""

    def __init__(self, name: str, threshold: int = DEFAULT_FAILURE_THRESHOLD, cooldown: float = DEFAULT_COOLDOWN_SECONDS,
                 clock=time.monotonic):
        self.name, self.threshold, self.cooldown = name, threshold, cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._last_class = "server"
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self.cooldown else "open"

    def before_request(self) -> None:
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_running:
                self._trial_running = True  # exactly one trial request probes a recovering SIS
                return
            wait = max(0.0, self.cooldown - (self._clock() - self._opened_at))
        raise CircuitOpenError(
            f"{self.name}: circuit open after {self._failures} consecutive failed requests "
            f"(last: {self._last_class}); not calling the SIS for another {wait:.0f}s",
            self._last_class,
        )

    def record_success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial_running = 0, None, False

    def record_failure(self, error_class: str) -> None:
        with self._lock:
            self._failures += 1
            self._last_class = error_class
            if self._trial_running or self._failures >= self.threshold:
                self._opened_at, self._trial_running = self._clock(), False


@dataclass
class Guards:
    limiter: RateLimiter
    breaker: CircuitBreaker


_registry: dict[str, Guards] = {}
_registry_lock = threading.Lock()


def guards_for(integration: str, requests_per_minute: int | None, max_concurrency: int) -> Guards:
    """The integration's shared limiter and breaker; a changed limit replaces the limiter."""
    with _registry_lock:
        guards = _registry.get(integration)
        stale = guards is not None and (
            guards.limiter.requests_per_minute != requests_per_minute or guards.limiter.max_concurrency != max_concurrency
        )
        if guards is None or stale:
            breaker = guards.breaker if guards else CircuitBreaker(integration)
            guards = _registry[integration] = Guards(RateLimiter(requests_per_minute, max_concurrency), breaker)
        return guards


def forget_guards() -> None:
    """Drop every integration's limiter and breaker state (a new process starts like this)."""
    with _registry_lock:
        _registry.clear()
