"""A full sync of a delivery byte-identical to the last one's is recorded on that load, without normalising or loading.

Against the OneRoster simulator over HTTP, into SQLite (the default warehouse) and PostgreSQL; the
conditions under which it must not be (warehouse/unchanged.py) run by run, on both.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from sis_pipeline import delivery
from sis_pipeline.cli import format_report
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.reporting import report_markdown
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.overrides import set_override
from sis_pipeline.warehouse.runs import finish_sync_run, start_sync_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES, identity_reviews, local_overrides, rejected_records, sync_conflicts, sync_runs
from sis_pipeline.warehouse.unchanged import DeliveryChangedUnderneath, delivery_record, record_unchanged, unchanged_reference
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts


def _runs(url: str) -> list[dict]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = [row._asdict() for row in conn.execute(select(sync_runs).order_by(sync_runs.c.started_at))]
    engine.dispose()
    return rows


def _staged_steps(tmp_path, run_id: str) -> set[str]:
    """Which steps left files in the run's staging folder (raw, normalized, resolved)."""
    return {path.name for path in (tmp_path / "staging" / "springfield" / run_id).iterdir()}


def test_an_identical_delivery_is_recorded_without_normalising_or_loading(district, write_config, sync, warehouse_url, tmp_path, monkeypatch):
    # chunks of 100 records: extraction normalises while it reads, unless it holds back for a matching delivery
    monkeypatch.setenv("SIS_CHUNK_RECORDS", "100")
    config = write_config(district)
    totals = expected_totals(district)

    first = sync(config, warehouse_url)
    assert first["status"] == "success", first
    if warehouse_url.startswith("postgresql"):  # once is enough for what happens before the load
        # slow pages: a worker started while the second run extracts would have written datasets by its end
        district.update_settings(faults={"slow_page_rate": 1.0, "slow_page_seconds": 0.1})
    second = sync(config, warehouse_url)
    assert second["status"] == "success", second
    district.update_settings(faults={"slow_page_rate": 0.0})

    assert {e: (c["inserted"], c["updated"], c["archived"], c["unchanged"], c["fetched"]) for e, c in second["entities"].items()} == {
        e: (0, 0, 0, n, n) for e, n in totals.items()
    }
    assert warehouse_counts(warehouse_url) == totals
    assert second["unchanged_since"] == first["run_id"] and "unchanged_since" not in first
    assert f"the SIS delivered exactly what run {first['run_id']} read" in format_report({"integrations": {"springfield": second}})
    engine = create_warehouse_engine(warehouse_url)
    assert f"the SIS delivered exactly what run {first['run_id']} read, so nothing was normalised or loaded" in report_markdown(
        engine, "springfield", second["run_id"]
    )
    engine.dispose()
    runs = _runs(warehouse_url)
    assert [run["status"] for run in runs] == ["success", "success"]
    processed, unchanged = runs[0]["counts"], runs[1]["counts"]
    assert unchanged["delivery"]["unchanged_since"] == first["run_id"]
    assert unchanged["delivery"]["digest"] == processed["delivery"]["digest"]
    assert unchanged["delivery"]["processed_run"] == first["run_id"]
    assert {e: unchanged[e]["staged"] for e in ENTITIES} == {e: processed[e]["staged"] for e in ENTITIES} == totals
    # the first run normalised while extracting; the second never started normalising, resolving or loading files
    assert _staged_steps(tmp_path, first["run_id"]) == {"raw", "normalized", "resolved"}
    assert _staged_steps(tmp_path, second["run_id"]) == {"raw"}

    # and it stands for the next night too: the third run matches the second, which stands on the first
    third = sync(config, warehouse_url)
    assert third["status"] == "success", third
    assert _runs(warehouse_url)[2]["counts"]["delivery"]["unchanged_since"] == second["run_id"]
    assert _staged_steps(tmp_path, third["run_id"]) == {"raw"}


def test_a_changed_record_a_local_edit_or_reprocess_makes_the_run_load(district, write_config, sync, postgres_url, tmp_path):
    config = write_config(district)
    assert sync(config, postgres_url)["status"] == "success"

    student_ids = _student_ids(postgres_url)
    changed = student_ids[3]
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": changed, "fields": {"familyName": "Moved"}}])
    moved = sync(config, postgres_url)
    assert moved["status"] == "success", moved
    assert moved["entities"]["students"]["updated"] == 1
    assert "unchanged_since" not in _runs(postgres_url)[-1]["counts"]["delivery"]

    # a person's edit since the last load: the delivery is the same, but the load decides what the edit meets
    engine = create_warehouse_engine(postgres_url)
    uid = _uid(engine, changed)
    set_override(engine, uid, "last_name", "Edited", "registrar", "typo")
    edited = sync(config, postgres_url)
    assert edited["status"] == "success", edited
    assert "unchanged_since" not in _runs(postgres_url)[-1]["counts"]["delivery"]
    assert "resolved" in _staged_steps(tmp_path, edited["run_id"])

    reprocessed = sync(config, postgres_url, reprocess=True)
    assert reprocessed["status"] == "success", reprocessed
    assert "unchanged_since" not in _runs(postgres_url)[-1]["counts"]["delivery"]
    assert "resolved" in _staged_steps(tmp_path, reprocessed["run_id"])
    assert {c["inserted"] + c["updated"] + c["archived"] for c in reprocessed["entities"].values()} == {0}

    # nothing in between: the next is recorded as unchanged again
    again = sync(config, postgres_url)
    assert _runs(postgres_url)[-1]["counts"]["delivery"]["unchanged_since"] == reprocessed["run_id"]
    assert _staged_steps(tmp_path, again["run_id"]) == {"raw"}
    engine.dispose()


def test_another_configuration_or_release_makes_the_run_load(district, write_config, sync, postgres_url, monkeypatch):
    assert sync(write_config(district), postgres_url)["status"] == "success"
    other = sync(write_config(district, priority=5), postgres_url)  # whose golden record wins changed
    assert other["status"] == "success", other
    assert "unchanged_since" not in _runs(postgres_url)[-1]["counts"]["delivery"]
    # a new release of the package (its modules' digest, read once per process) normalises again
    monkeypatch.setattr(delivery, "_package_digest", lambda: "a-new-release")
    released = sync(write_config(district, priority=5), postgres_url)
    assert released["status"] == "success", released
    assert "unchanged_since" not in _runs(postgres_url)[-1]["counts"]["delivery"]


def _student_ids(url: str) -> list[str]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(ENTITY_TABLES["students"].c.source_id)).scalars())
    engine.dispose()
    return ids


def _uid(engine, source_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(ENTITY_TABLES["students"].c.student_uid).where(ENTITY_TABLES["students"].c.source_id == source_id)
        ).scalar_one()


# --- the conditions, run by run, on both backends ---------------------------------------------------------

DIGEST = "d" * 32


@pytest.fixture
def engine(warehouse_engine):
    return warehouse_engine


def _full_run(engine, run_id: str, *, processed_at: datetime | None = None, status: str = "success", mode: str = "full",
              error_class: str | None = None) -> None:
    start_sync_run(engine, run_id, "springfield", mode)
    counts = {
        "students": {"staged": 3, "inserted": 3, "updated": 0, "unchanged": 0, "archived": 0},
        "rejected": {"students": 1},
        "fetched": {"students": 4},
        "delivery": delivery_record(DIGEST, "s" * 32, run_id, processed_at or datetime.now(UTC)),
    }
    # a held run's counts never carry a delivery today (warehouse/holds.py); here they do, to show the status decides
    finish_sync_run(engine, run_id, "springfield", status, {} if status == "failed" else counts, error_class=error_class)


def _reject(engine, run_id: str, reasons: str = "last_name: not_nullable (got None)") -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(rejected_records).values(
            run_id=run_id, integration="springfield", entity="students", source_id="s9", reasons=reasons, payload="{}",
            rejected_at=now, first_rejected_at=now, times_rejected=1, fingerprint=f"f-{run_id}",
        ))


def _reference(engine, run_id: str = "tonight", days: float | None = 7) -> str | None:
    found = unchanged_reference(engine, "springfield", run_id, days)
    return found["run_id"] if found else None


def test_only_the_latest_successful_full_sync_may_be_stood_on(engine):
    assert _reference(engine) is None  # nothing loaded yet
    _full_run(engine, "r1")
    assert _reference(engine) == "r1"
    assert _reference(engine, days=None) is None  # switched off
    _full_run(engine, "refused", status="failed", error_class="concurrent_run")
    assert _reference(engine) == "r1"  # a refused run did nothing
    _full_run(engine, "failed", status="failed", error_class="network")
    assert _reference(engine) is None  # whatever it did or did not do, the next run looks for itself
    _full_run(engine, "held", status="held")
    assert _reference(engine) is None  # its load was not applied
    _full_run(engine, "r2")
    assert _reference(engine) == "r2"
    start_sync_run(engine, "crashed", "springfield", "full")  # still running: it died before its load committed
    assert _reference(engine) == "r2"
    _full_run(engine, "incremental", mode="incremental")
    assert _reference(engine) is None


def test_a_delivery_processed_too_long_ago_is_compared_in_full(engine):
    _full_run(engine, "old", processed_at=datetime.now(UTC) - timedelta(days=8))
    assert _reference(engine) is None
    assert _reference(engine, days=9) == "old"


@pytest.mark.parametrize("edit", ["override", "conflict", "review"])
def test_a_persons_decision_since_the_last_run_makes_the_next_one_load(engine, edit):
    _full_run(engine, "r1")
    assert _reference(engine) == "r1"
    now = datetime.now(UTC)
    with engine.begin() as conn:
        if edit == "override":
            conn.execute(insert(local_overrides).values(
                student_uid="u1", field="last_name", value="X", set_by="registrar", set_at=now))
        elif edit == "conflict":
            conn.execute(insert(sync_conflicts).values(
                integration="springfield", source_id="s1", student_uid="u1", field="last_name", override_id=1, run_id="r1",
                detected_at=now - timedelta(days=30), resolution="sis", resolved_by="registrar", resolved_at=now))
        else:
            conn.execute(insert(identity_reviews).values(
                integration="springfield", source_id="s1", candidate_uid="u1", reason="same name", run_id="r1",
                created_at=now - timedelta(days=30), decision="split", decided_by="registrar", decided_at=now))
    assert _reference(engine) is None


def test_a_rejection_for_the_runs_date_makes_the_next_run_load(engine):
    _full_run(engine, "r1")
    _reject(engine, "r1", "birth_date: 2099-01-01 is after the run's date 2026-12-01")
    assert _reference(engine) is None


def test_recording_moves_the_rejections_on_and_rechecks_under_the_lock(engine):
    _full_run(engine, "r1")
    _reject(engine, "r1")
    start_sync_run(engine, "r2", "springfield", "full")
    counts = record_unchanged(engine, "springfield", "r2", "r1", DIGEST, 7)
    assert counts["students"] == {"staged": 3, "inserted": 0, "updated": 0, "unchanged": 3, "archived": 0}
    assert (counts["rejected"], counts["fetched"], counts["delivery"]["unchanged_since"]) == ({"students": 1}, {"students": 4}, "r1")
    with engine.connect() as conn:
        run = conn.execute(select(sync_runs.c.status, sync_runs.c.counts).where(sync_runs.c.run_id == "r2")).one()
        rejected = conn.execute(select(rejected_records.c.run_id, rejected_records.c.times_rejected)).all()
    assert (run.status, run.counts) == ("success", counts)
    assert rejected == [("r2", 2)]

    # between reading the SIS and recording, a person edited: nothing is recorded, the run fails with why
    start_sync_run(engine, "r3", "springfield", "full")
    with engine.begin() as conn:
        conn.execute(insert(local_overrides).values(
            student_uid="u1", field="last_name", value="X", set_by="registrar", set_at=datetime.now(UTC)))
    with pytest.raises(DeliveryChangedUnderneath, match="nothing was loaded"):
        record_unchanged(engine, "springfield", "r3", "r2", DIGEST, 7)
    with engine.connect() as conn:
        assert conn.execute(select(sync_runs.c.status).where(sync_runs.c.run_id == "r3")).scalar_one() == "running"
        assert conn.execute(select(rejected_records.c.run_id)).scalar_one() == "r2"
    # and a digest that is not the reference's is refused too
    with pytest.raises(DeliveryChangedUnderneath):
        record_unchanged(engine, "springfield", "r3", "r2", "e" * 32, None)
