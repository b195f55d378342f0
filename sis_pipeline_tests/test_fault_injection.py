"""The fault-injection suite: a bad night at the SIS costs retries, never records.

Transient faults: the sync completes with exactly the source's counts. Permanent faults: it fails
cleanly, classified, with the warehouse as it was. The simulator injects the faults over real HTTP.
"""

import pytest

from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

TRANSIENT = {
    "5% server errors": {"server_error_rate": 0.05},
    "429 bursts, Retry-After seconds": {"throttle_burst_every": 15, "throttle_burst_length": 3, "retry_after_seconds": 1},
    "429 bursts, Retry-After HTTP date": {"throttle_burst_every": 25, "throttle_burst_length": 2, "retry_after_style": "http_date"},
    "token revoked mid-sync": {"revoke_tokens_after": 20},
    "token expiring between pages": {"expire_tokens_every": 15},
    "connection resets": {"connection_reset_rate": 0.05},
    "truncated JSON pages": {"truncated_page_rate": 0.05},
    "slow page past the read timeout": {"slow_page_rate": 0.04, "slow_page_seconds": 2.0},
}
NO_FAULTS = dict.fromkeys(["server_error_rate", "connection_reset_rate", "truncated_page_rate", "slow_page_rate"], 0.0) | {
    "throttle_burst_every": 0, "revoke_tokens_after": 0, "expire_tokens_every": 0, "strict_requests_per_minute": 0,
}


@pytest.fixture
def faulty(district):
    yield district
    district.update_settings(faults=NO_FAULTS)


@pytest.mark.parametrize("faults", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_faults_cost_retries_not_records(faulty, write_config, sync, postgres_url, faults):
    faulty.update_settings(faults=faults)
    result = sync(write_config(faulty, timeout_seconds=0.8), postgres_url)
    assert result["status"] == "success", result
    assert warehouse_counts(postgres_url) == expected_totals(faulty)  # 0 lost, 0 duplicated
    counts = faulty.stats()["faults"]
    injected = sum(value for name, value in counts.items() if name not in ("api_requests", "token_requests", "rate_limit_violations"))
    assert injected > 0  # the fault really happened
    api = result["api"]
    assert api["retries"] + api["token_refreshes"] - 1 > 0


def test_a_permanently_failing_sis_fails_the_run_cleanly_and_classified(faulty, write_config, sync, warehouse_url):
    config = write_config(faulty)
    sync(config, warehouse_url)
    before = warehouse_counts(warehouse_url, active_only=True)
    faulty.update_settings(faults={"server_error_rate": 1.0})
    result = sync(config, warehouse_url)
    assert result["status"] == "failed" and result["error_class"] == "server"
    assert warehouse_counts(warehouse_url, active_only=True) == before


def test_a_strict_rate_limit_sees_no_violation_and_most_of_its_budget_used(faulty, write_config, sync, postgres_url):
    limit = 600
    faulty.update_settings(faults={"strict_requests_per_minute": limit})
    result = sync(write_config(faulty, requests_per_minute=limit), postgres_url)
    assert result["status"] == "success"
    stats = faulty.stats()["faults"]
    assert stats["rate_limit_violations"] == 0
    api = stats["api_requests"]
    achieved = (api["count"] - 1) / (api["last_at"] - api["first_at"]) * 60
    assert achieved >= 0.9 * limit, achieved


def test_a_bad_night_at_ten_thousand_students_loses_nothing_and_leaks_nothing(write_config, sync, postgres_url, caplog, monkeypatch, capsys):
    """Issue 4's acceptance run: 5% 5xx, 429 bursts and one token revocation, all at once."""
    import logging
    import subprocess
    import uuid

    from cryptography.fernet import Fernet
    from sqlalchemy.engine import make_url

    from sis_simulators import SimulatorServer, SimulatorSettings

    settings = SimulatorSettings(client_id="bad-night", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=10_000, settings=settings) as sim:
        issued: list[str] = []
        original_issue = sim.state.tokens.issue
        monkeypatch.setattr(sim.state.tokens, "issue", lambda ttl: issued.append(original_issue(ttl)) or issued[-1])
        monkeypatch.setenv("SIS_TOKEN_KEY", Fernet.generate_key().decode())
        sim.update_settings(faults={"server_error_rate": 0.05, "throttle_burst_every": 40, "throttle_burst_length": 3,
                                    "revoke_tokens_after": 150})
        with caplog.at_level(logging.DEBUG):
            result = sync(write_config(sim, page_size=500), postgres_url)
        assert result["status"] == "success", result
        assert warehouse_counts(postgres_url) == expected_totals(sim)
        injected = sim.stats()["faults"]
    url = make_url(postgres_url)
    dump = subprocess.run(["pg_dump", "-h", url.host, "-p", str(url.port or 5432), "-U", url.username, url.database],
                          capture_output=True, text=True, check=True).stdout
    for secret in [settings.client_secret, *issued]:
        assert secret not in dump and secret not in caplog.text
    assert injected["server_errors"] > 0 and injected["throttled"] > 0 and injected["token_revocations"] == 1
    api = result["api"]
    # The figures the closing note quotes, asserted: every injected fault cost exactly one retry, every
    # throttled answer was seen as one, and the only token requests were the first and one after the revocation.
    assert api["retries"] == injected["server_errors"] + injected["throttled"]
    assert api["throttled"] == injected["throttled"]
    assert api["token_refreshes"] == 2 and len(issued) == 2
    assert api["requests"] == injected["api_requests"]["count"] + api["token_refreshes"]  # token requests go through the same client
    with capsys.disabled():
        api = result["api"]
        print(f"\nbad night, 10,000 students: {api['requests']} requests, {api['retries']} retries, "
              f"{api['throttled']} throttled answers, {api['token_refreshes']} token requests; injected {injected}")


def test_one_integration_failing_fast_does_not_stop_the_others(faulty, postgres_url, tmp_path, monkeypatch):
    import uuid

    import yaml

    from sis_pipeline.config import load_config
    from sis_pipeline.defs import build_resources
    from sis_pipeline.defs.sync_runner import sync_integrations
    from sis_simulators import SimulatorServer, SimulatorSettings

    healthy_settings = SimulatorSettings(client_id="healthy", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(students=200, settings=healthy_settings) as healthy:
        faulty.update_settings(faults={"server_error_rate": 1.0})
        entries = []
        for name, sim in (("broken", faulty), ("healthy", healthy)):
            monkeypatch.setenv(f"{name.upper()}_ID", sim.client_id)
            monkeypatch.setenv(f"{name.upper()}_SECRET", sim.client_secret)
            entries.append({"name": name, "provider": "oneroster", "base_url": sim.oneroster_root("1.1"),
                            "token_url": sim.token_url, "client_id_env": f"{name.upper()}_ID",
                            "client_secret_env": f"{name.upper()}_SECRET"})
        config = tmp_path / "integrations.yaml"
        config.write_text(yaml.safe_dump({"integrations": entries}))
        pipeline = load_config(config)
        resources = build_resources(pipeline, postgres_url, str(tmp_path / "staging"))
        report = sync_integrations(pipeline, ["broken", "healthy"], resources=resources)["integrations"]
        assert report["broken"]["status"] == "failed" and report["broken"]["error_class"] == "server"
        assert report["healthy"]["status"] == "success"
        assert {e: c["inserted"] for e, c in report["healthy"]["entities"].items()} == expected_totals(healthy)
