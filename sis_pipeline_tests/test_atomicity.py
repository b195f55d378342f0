"""A sync process killed mid-load (SIGKILL) leaves the warehouse as it was; the next run converges."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select

from sis_simulators import SimulatorServer, SimulatorSettings
from sis_pipeline.warehouse.schema import sync_runs
from sis_pipeline_tests.helpers import expected_totals, wait_until_loading, warehouse_counts

CLI = str(Path(sys.executable).with_name("sis-pipeline"))


def killed_while_loading(sim, write_config, postgres_url, tmp_path, entity: str = "") -> tuple[Path, dict]:
    """A `sis-pipeline sync` process SIGKILLed once its load is staging rows (of `entity`, if named)."""
    config = write_config(sim, page_size=2000)
    env = {**os.environ, "SIS_WAREHOUSE_URL": postgres_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    sync = subprocess.Popen([CLI, "sync", "--config", str(config), "--json", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_loading(postgres_url, sync, entity=entity)
    os.kill(sync.pid, signal.SIGKILL)
    sync.wait(timeout=30)
    assert sync.returncode == -signal.SIGKILL
    return config, env


def simulator() -> SimulatorServer:
    settings = SimulatorSettings(client_id="kill-test", client_secret=f"secret-{uuid.uuid4().hex}")
    return SimulatorServer(students=6000, settings=settings)


def test_sigkill_mid_load_commits_nothing_and_the_next_run_converges(postgres_url, write_config, tmp_path):
    with simulator() as sim:
        config, env = killed_while_loading(sim, write_config, postgres_url, tmp_path)

        assert set(warehouse_counts(postgres_url).values()) == {0}  # not one row of the half-done load
        engine = create_engine(postgres_url)
        with engine.connect() as conn:
            assert conn.execute(select(sync_runs.c.status)).scalars().all() == ["running"]  # visible as crashed
        engine.dispose()

        again = subprocess.run([CLI, "sync", "--config", str(config), "--json", "--quiet"], env=env,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        assert warehouse_counts(postgres_url) == expected_totals(sim)


def test_sigkill_after_earlier_entities_were_upserted_commits_none_of_them(postgres_url, write_config, tmp_path):
    """The load upserts schools … teachers before it stages enrollments: killed there, none of them may show."""
    with simulator() as sim:
        killed_while_loading(sim, write_config, postgres_url, tmp_path, entity="enrollments")
        assert set(warehouse_counts(postgres_url).values()) == {0}
