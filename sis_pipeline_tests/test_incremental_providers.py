"""Incremental runs and change probes of the providers other than OneRoster, against their simulators over
HTTP and the warehouse on both backends: a probe right after a full sync sees nothing, one after changes
sees them; an incremental run applies exactly those changes and keeps the SIS's own stamp (made UTC) as
the watermark."""

import uuid
from datetime import UTC, datetime

import pytest
import yaml

from sis_pipeline.config import load_config
from sis_pipeline.providers.common.registry import provider_class
from sis_pipeline.warehouse.cursors import read_watermarks
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_simulators import SimulatorServer
from sis_simulators.qmlativ import QmlativSettings
from sis_simulators.qmlativ.objects import FIRST_ID

NAME = "springfield"
STUDENT = "Student/Student"


def watermarks(url: str) -> dict[str, datetime]:
    engine = create_warehouse_engine(url)
    try:
        return read_watermarks(engine, NAME)
    finally:
        engine.dispose()


def probe(config, url: str):
    """The provider's change probe against the watermarks the warehouse holds, as the sensor asks it."""
    integration = load_config(config).integration(NAME)
    provider = provider_class(integration.provider)(integration)
    try:
        return provider.probe_changes(watermarks(url))
    finally:
        provider.close()


def changed_only(counts: dict, entity: str, inserted: int = 0, updated: int = 0, archived: int = 0) -> None:
    """`entity` was written exactly so; every other entity not at all."""
    assert (counts[entity]["inserted"], counts[entity]["updated"], counts[entity]["archived"]) == (inserted, updated, archived)
    for other, written in counts.items():
        if other != entity:
            assert written["inserted"] == written["updated"] == written["archived"] == 0, (other, written)


def write_integration(tmp_path, monkeypatch, sim, **entry) -> str:
    monkeypatch.setenv("SIS_ID", sim.client_id)
    monkeypatch.setenv("SIS_SECRET", sim.client_secret)
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{
        "name": NAME, "base_url": sim.base_url, "client_id_env": "SIS_ID", "client_secret_env": "SIS_SECRET",
        "timezone": "America/Chicago", "requests_per_minute": 60_000, **entry,
    }]}))
    return path


# --- Skyward Qmlativ -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qmlativ_server():
    settings = QmlativSettings(client_id="skyward-inc", client_secret=f"secret-{uuid.uuid4().hex}")
    with SimulatorServer(300, kind="qmlativ", settings=settings) as running:
        yield running


@pytest.fixture
def qmlativ(qmlativ_server):
    qmlativ_server.reset()
    yield qmlativ_server
    qmlativ_server.reset()


def qmlativ_config(tmp_path, monkeypatch, sim):
    return write_integration(tmp_path, monkeypatch, sim, provider="skyward", page_size=200, options={"api": "qmlativ"})


def test_qmlativ_probe_sees_nothing_after_a_full_sync_and_the_changes_after_it(qmlativ, tmp_path, monkeypatch, sync, sqlite_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, sqlite_url)["status"] == "success"

    quiet = probe(config, sqlite_url)  # the newest record sits exactly at its watermark: not "after" it
    assert quiet.changed is False and quiet.token is None, quiet

    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT] + 5, "fields": {"LastName": "Moved"}}])
    seen = probe(config, sqlite_url)
    assert seen.changed is True and seen.detail == "changed: students", seen
    assert seen.token and "Moved" not in seen.token + seen.detail  # what changed, never the record's content


def test_qmlativ_incremental_run_applies_exactly_the_changes(qmlativ, tmp_path, monkeypatch, sync, warehouse_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, warehouse_url)["status"] == "success"
    after_full = watermarks(warehouse_url)
    assert set(after_full) >= {"students", "classes", "enrollments", "demographics", "entryWithdrawals"}

    # Wall-clock stamps of the district (America/Chicago, CST in late November: UTC-6)
    stamps = {FIRST_ID[STUDENT] + 3: "2026-11-20T09:30:00", FIRST_ID[STUDENT] + 40: "2026-11-20T09:45:10", FIRST_ID[STUDENT] + 41: "2026-11-20T08:00:00"}
    qmlativ.apply_changes([
        {"op": "update", "object": STUDENT, "id": i, "fields": {"LastName": f"Renamed{n}", "ModifiedTime": t}}
        for n, (i, t) in enumerate(stamps.items())
    ])
    run = sync(config, warehouse_url, mode="incremental")
    assert run["status"] == "success", run
    changed_only(run["entities"], "students", updated=3)

    moved = watermarks(warehouse_url)
    assert moved["students"] == datetime(2026, 11, 20, 15, 45, 10, tzinfo=UTC)  # the SIS's wall clock, made UTC
    assert {c: w for c, w in moved.items() if c != "students"} == {c: w for c, w in after_full.items() if c != "students"}
    assert probe(config, warehouse_url).changed is False  # the run took every change there was


def test_qmlativ_incremental_run_reads_only_the_changes(qmlativ, tmp_path, monkeypatch, sync, sqlite_url):
    config = qmlativ_config(tmp_path, monkeypatch, qmlativ)
    assert sync(config, sqlite_url)["status"] == "success"
    qmlativ.apply_changes([{"op": "update", "object": STUDENT, "id": FIRST_ID[STUDENT] + 9, "fields": {"LastName": "Only"}}])
    run = sync(config, sqlite_url, mode="incremental")
    assert run["status"] == "success", run
    # a delta, not the district: only the change and the few records stamped in the look-back before the watermark
    totals = qmlativ.totals()
    assert run["entities"]["students"]["updated"] == 1
    assert 1 <= run["entities"]["students"]["fetched"] < totals[STUDENT] / 20
    assert run["entities"]["enrollments"]["fetched"] < totals["Scheduling/StudentSection"] / 20
    # a removal is not a change Qmlativ can report: only the next full sync archives the record
    qmlativ.apply_changes([{"op": "remove", "object": STUDENT, "id": FIRST_ID[STUDENT] + 10}])
    quiet = sync(config, sqlite_url, mode="incremental")
    assert quiet["entities"]["students"]["archived"] == 0
