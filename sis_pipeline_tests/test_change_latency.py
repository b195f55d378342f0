"""The daemon-driven path at a small scale: a change at the SIS reaches the warehouse with nobody starting a run.

`dagster dev` (webserver and daemon) with the repository's dagster.yaml, the integration's change sensor
polling every 5 s, two students renamed one after the other: each must reach the warehouse, written by an
incremental run that the sensor requested. The same code as bench/change_latency.py (issue 9's
latency measurement), which runs it with 20 changes at a 30 s poll.
"""

import pytest
from sqlalchemy import text

from sis_pipeline_tests.helpers import DaemonDeployment, measure_change_latency

POLL_SECONDS = 5
STUDENTS = 300


@pytest.mark.timeout(240)
def test_changes_reach_the_warehouse_through_the_change_sensor(postgres_server_url):
    with DaemonDeployment(postgres_server_url, students=STUDENTS, poll_interval_seconds=POLL_SECONDS) as deployment:
        deployment.start_dagster()
        deployment.full_sync()
        deployment.wait_for_dagster()
        sensor = deployment.wait_for_sensor_tick(timeout=90)
        assert sensor["min_interval_seconds"] == POLL_SECONDS
        # Fails unless each change arrives within the timeout, written by an incremental run of this
        # partition requested by `<integration>_changes` (no run requested: the row never changes).
        samples = measure_change_latency(deployment, 2, jitter_seconds=POLL_SECONDS, change_timeout=60)
        with deployment.warehouse.connect() as conn:
            modes = conn.execute(text("SELECT mode, count(*) FROM sync_runs WHERE status = 'success' GROUP BY mode")).all()

    assert [sample["mode"] for sample in samples] == ["incremental", "incremental"]
    assert {sample["sensor"] for sample in samples} == {"latency_district_changes"}
    assert len({sample["run_id"] for sample in samples}) == 2  # one run per change, not one run for both
    assert all(sample["latency_seconds"] < 60 for sample in samples)
    assert dict(modes) == {"full": 1, "incremental": 2}
