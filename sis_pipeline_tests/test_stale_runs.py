"""The second line of defence behind the run lock: an older run's data, loaded after a newer run's, changes nothing
the newer run wrote. Driven through the loader with two staged datasets, on SQLite and PostgreSQL."""

import uuid
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select

from sis_pipeline.normalize.models import columns
from sis_pipeline.warehouse import load_integration, start_sync_run
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES

INTEGRATION = "demo"
students = ENTITY_TABLES["students"]


def roster(ids: list[str], *, last_name: str, modified: str, uids: dict[str, str]) -> pd.DataFrame:
    """Canonical students as one delivery of the SIS stamped them."""
    frame = pd.DataFrame({name: [None] * len(ids) for name in columns("students")}, dtype=object)
    frame["integration"] = INTEGRATION
    frame["source_id"] = ids
    frame["status"] = "active"
    frame["source_updated_at"] = pd.Timestamp(modified)
    frame["first_name"] = [f"First {i}" for i in ids]
    frame["last_name"] = last_name
    frame["enabled"] = True
    frame["student_uid"] = [uids.setdefault(i, str(uuid.uuid4())) for i in ids]
    frame["identity_rule"] = "new"
    return frame


def load(engine, frame: pd.DataFrame, *, extracted_at: datetime) -> str:
    run_id = uuid.uuid4().hex
    start_sync_run(engine, run_id, INTEGRATION, "full")
    load_integration(engine, INTEGRATION, {"students": [frame]}, full=True, run_id=run_id, extracted_at=extracted_at)
    return run_id


def stored(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(students)).mappings().all()
    return {row["source_id"]: dict(row) for row in rows}


def test_an_older_run_finishing_last_changes_nothing_the_newer_run_wrote(warehouse_engine):
    uids: dict[str, str] = {}
    ids = [f"s{i}" for i in range(20)]
    load(warehouse_engine, roster(ids, last_name="Original", modified="2026-09-01T00:00:00Z", uids=uids),
         extracted_at=datetime.now(UTC))
    older_read_at = datetime.now(UTC)  # the older run reads the SIS, then stalls
    older = roster(ids, last_name="Original", modified="2026-09-01T00:00:00Z", uids=uids)
    older.loc[older.source_id == "s3", ["last_name", "source_updated_at"]] = ["Old name", pd.Timestamp("2026-09-02T00:00:00Z")]
    # the newer run reads later: s3 renamed in the SIS, s5 edited without a new timestamp, s7 gone, one student added
    newer_read_at = datetime.now(UTC)
    newer = roster([i for i in ids if i != "s7"] + ["s-new"], last_name="Original", modified="2026-09-01T00:00:00Z", uids=uids)
    newer.loc[newer.source_id == "s3", ["last_name", "source_updated_at"]] = ["New name", pd.Timestamp("2026-09-03T00:00:00Z")]
    newer.loc[newer.source_id == "s5", "last_name"] = "Edited"
    load(warehouse_engine, newer, extracted_at=newer_read_at)
    after_newer = stored(warehouse_engine)
    assert after_newer["s7"]["archived_at"] is not None and after_newer["s5"]["last_name"] == "Edited"

    older_run = load(warehouse_engine, older, extracted_at=older_read_at)

    run = read_sync_run(warehouse_engine, older_run, INTEGRATION)
    assert run["status"] == "success"
    assert run["counts"]["students"]["updated"] == 0 and run["counts"]["students"]["archived"] == 0
    assert run["counts"]["stale"] == {"students": 3}  # s3, s5 and s7 were not written back
    after_older = stored(warehouse_engine)
    assert after_older["s3"]["last_name"] == "New name"
    assert _utc(after_older["s3"]["source_updated_at"]) == datetime(2026, 9, 3, tzinfo=UTC)  # never backwards
    assert after_older["s5"]["last_name"] == "Edited"
    assert after_older["s7"]["archived_at"] is not None  # not restored by the older listing
    assert after_older["s-new"]["archived_at"] is None  # added after the older run read the SIS
    assert after_older == after_newer


def test_a_newer_sis_timestamp_wins_even_without_overlapping_runs(warehouse_engine):
    uids: dict[str, str] = {}
    load(warehouse_engine, roster(["s1"], last_name="Newer", modified="2026-09-03T00:00:00Z", uids=uids),
         extracted_at=datetime.now(UTC))
    load(warehouse_engine, roster(["s1"], last_name="Older", modified="2026-09-01T00:00:00Z", uids=uids),
         extracted_at=datetime.now(UTC))
    row = stored(warehouse_engine)["s1"]
    assert row["last_name"] == "Newer"
    assert _utc(row["source_updated_at"]) == datetime(2026, 9, 3, tzinfo=UTC)


def test_data_read_after_the_last_load_still_archives_and_updates(warehouse_engine):
    uids: dict[str, str] = {}
    ids = [f"s{i}" for i in range(20)]
    load(warehouse_engine, roster(ids, last_name="A", modified="2026-09-01T00:00:00Z", uids=uids),
         extracted_at=datetime.now(UTC))
    later = roster(ids[1:], last_name="A", modified="2026-09-01T00:00:00Z", uids=uids)
    later.loc[later.source_id == "s2", ["last_name", "source_updated_at"]] = ["B", pd.Timestamp("2026-09-02T00:00:00Z")]

    run_id = load(warehouse_engine, later, extracted_at=datetime.now(UTC))

    counts = read_sync_run(warehouse_engine, run_id, INTEGRATION)["counts"]["students"]
    assert (counts["updated"], counts["archived"]) == (1, 1)
    rows = stored(warehouse_engine)
    assert rows["s0"]["archived_at"] is not None and rows["s2"]["last_name"] == "B"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
