"""The token endpoint on a bad night: its 5xx, 429 and network errors cost retries like any call, never the run.

A refused client (400/401) is an auth failure at once: asking again with the same credentials cannot help.
"""

import logging

import httpx
import pytest

from sis_pipeline.errors import AuthError
from sis_pipeline.providers.common.auth import ClientCredentialsAuth
from sis_pipeline.providers.common.http import ApiClient
from sis_pipeline_tests.helpers import LatePort, api_calls_to, expected_totals, warehouse_counts

TOKEN_FAULTS_OFF = {"token_refusals": 0, "token_refusal_status": 503, "retry_after_seconds": 1.0}


@pytest.fixture
def token_faults(district):
    yield district
    district.update_settings(faults=TOKEN_FAULTS_OFF)


def token_requests(sim) -> dict:
    return sim.stats()["faults"]["token_requests"]


def test_a_token_endpoint_answering_503_once_costs_one_retry(token_faults, write_config, sync, warehouse_url):
    token_faults.update_settings(faults={"token_refusals": 1})
    result = sync(write_config(token_faults), warehouse_url)
    assert result["status"] == "success", result
    assert warehouse_counts(warehouse_url) == expected_totals(token_faults)
    assert token_faults.stats()["faults"]["token_refusals"] == 1 and token_requests(token_faults)["count"] == 2
    assert result["api"]["token_refreshes"] == 1 and result["api"]["retries"] >= 1
    # the audit trail keeps the token endpoint's answers like any other call's
    assert api_calls_to(warehouse_url, "/oauth/token") == [(1, 503, None), (2, 200, None)]


def test_a_token_endpoint_answering_429_is_asked_again_after_its_retry_after(token_faults, write_config, sync, postgres_url):
    token_faults.update_settings(faults={"token_refusals": 1, "token_refusal_status": 429, "retry_after_seconds": 2})
    result = sync(write_config(token_faults), postgres_url)
    assert result["status"] == "success", result
    assert warehouse_counts(postgres_url) == expected_totals(token_faults)
    arrivals = token_requests(token_faults)
    assert arrivals["count"] == 2
    # measured where the requests arrived: a jittered backoff alone would have come back within 0.5 s
    assert 2.0 - 0.05 <= arrivals["last_at"] - arrivals["first_at"] < 10
    assert result["api"]["throttled"] == 1


def test_a_token_endpoint_refusing_the_first_connection_costs_one_retry(token_faults, write_config, sync, postgres_url):
    simulator_port = int(token_faults.base_url.rsplit(":", 1)[1])
    late = LatePort(simulator_port)
    opener = _OpenOnConnectError(late)
    http_log = logging.getLogger("sis_pipeline.providers.common.http")
    http_log.addHandler(opener)
    try:
        token_url = f"http://127.0.0.1:{late.port}{token_faults.settings.token_path}"
        result = sync(write_config(token_faults, token_url=token_url), postgres_url)
    finally:
        http_log.removeHandler(opener)
        late.close()
    assert result["status"] == "success", result
    assert warehouse_counts(postgres_url) == expected_totals(token_faults)
    assert opener.seen == 1 and late.accepted >= 1
    assert api_calls_to(postgres_url, "/oauth/token") == [(1, None, "ConnectError"), (2, 200, None)]


def test_a_token_endpoint_that_stays_down_fails_the_run_within_the_retry_budget_and_the_breaker(
    token_faults, write_config, sync, sqlite_url
):
    token_faults.update_settings(faults={"token_refusals": 50})
    result = sync(write_config(token_faults), sqlite_url)
    assert result["status"] == "failed" and result["error_class"] == "server", result
    assert "/oauth/token" in result["error"] or "circuit open after 8" in result["error"]
    # the first request spends the 6-attempt budget; the next opens the circuit at 8 failures in a row
    assert token_requests(token_faults)["count"] == 8
    assert warehouse_counts(sqlite_url) == dict.fromkeys(expected_totals(token_faults), 0)


def test_a_refused_client_is_an_auth_failure_asked_once(token_faults, write_config, sync, sqlite_url, monkeypatch):
    config = write_config(token_faults)
    monkeypatch.setenv("SPRINGFIELD_CLIENT_SECRET", "not-the-secret")
    result = sync(config, sqlite_url)
    assert result["status"] == "failed" and result["error_class"] == "auth", result
    assert "HTTP 401" in result["error"]
    assert token_requests(token_faults)["count"] == 1


def test_a_400_from_the_token_endpoint_is_an_auth_failure_without_a_retry():
    asked = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(400, json={"error": "invalid_request"})

    with httpx.Client(transport=httpx.MockTransport(token_endpoint)) as http:
        client = ApiClient("https://sis.example.org/api", None, http=http, name="token-400")
        client.auth = ClientCredentialsAuth(client.token_request, "https://sis.example.org/oauth/token", "id", "s3cret")
        for _ in range(2):  # a second collection is not asked for again either
            with pytest.raises(AuthError, match="refused client 'id': HTTP 400") as refused:
                client.get_json("/students")
            assert refused.value.error_class == "auth"
    assert asked == ["/oauth/token"]


class _OpenOnConnectError(logging.Handler):
    """Opens the late port when the client reports its first refused connection, before it waits to retry."""

    def __init__(self, late: LatePort):
        super().__init__(logging.WARNING)
        self.late, self.seen = late, 0

    def emit(self, record: logging.LogRecord) -> None:
        if "ConnectError" in record.getMessage():
            self.seen += 1
            self.late.open()
