"""The rate limiter, the circuit breaker and the retry budgets, with a fake clock."""

import pytest

from sis_pipeline.providers.common.guards import CircuitBreaker, CircuitOpenError, RateLimiter, guards_for


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_spaces_request_starts_to_the_per_minute_budget():
    clock = FakeClock()
    limiter = RateLimiter(60, 4, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        limiter.wait_turn()
    assert clock.slept == [1.0, 1.0, 1.0, 1.0]  # 60/min: one request start per second, the first at once


def test_breaker_opens_after_consecutive_failures_fails_fast_and_half_opens_after_cooldown():
    clock = FakeClock()
    breaker = CircuitBreaker("springfield", threshold=3, cooldown=60, clock=clock)
    breaker.record_failure("server")
    breaker.record_success()  # a success in between resets the count
    for _ in range(3):
        breaker.before_request()
        breaker.record_failure("network")
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as opened:
        breaker.before_request()
    assert opened.value.error_class == "network" and "springfield" in str(opened.value)

    clock.now += 60
    assert breaker.state == "half_open"
    breaker.before_request()  # exactly one trial
    with pytest.raises(CircuitOpenError):
        breaker.before_request()
    breaker.record_failure("server")  # the trial failed: open again for a full cool-down
    assert breaker.state == "open"
    clock.now += 60
    breaker.before_request()
    breaker.record_success()
    assert breaker.state == "closed"


def test_guards_are_shared_per_integration_and_follow_a_changed_limit():
    first = guards_for("shared_example", 60, 2)
    assert guards_for("shared_example", 60, 2) is first
    changed = guards_for("shared_example", 120, 2)
    assert changed.limiter is not first.limiter and changed.breaker is first.breaker
    assert guards_for("another_example", 60, 2).breaker is not first.breaker


def test_retry_after_reads_seconds_and_http_dates_and_is_capped():
    import time
    from email.utils import formatdate

    import httpx

    from sis_pipeline.providers.common.http import retry_after_seconds

    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"})) == 7
    in_thirty = formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds(httpx.Headers({"Retry-After": in_thirty})) <= 31
    assert retry_after_seconds(httpx.Headers({"Retry-After": "600"}), cap=120) == 120  # a misread 9-minute wait, capped
    assert 4 <= retry_after_seconds(httpx.Headers({"X-RateLimit-Reset": str(time.time() + 5)})) <= 5
    assert retry_after_seconds(httpx.Headers({})) is None
