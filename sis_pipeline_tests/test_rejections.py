"""Rejected records: one row per distinct rejection however often it recurs, each run's report still counting it,
and rows no run has seen for the retention period pruned."""

import pytest
from alembic import command
from sqlalchemy import select, text

from sis_pipeline.config import ConfigError
from sis_pipeline.warehouse import create_warehouse_engine, ensure_schema
from sis_pipeline.warehouse.migrate import alembic_config
from sis_pipeline.warehouse.rejections import retention_days
from sis_pipeline.warehouse.schema import rejected_records


def rejections(url: str) -> list:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(rejected_records).order_by(rejected_records.c.id)).all()
    engine.dispose()
    return rows


def reject_student(district, index: int, family_name: str = "  ") -> str:
    source_id = district.district.students.sourced_id(index)
    district.apply_changes([{"op": "update", "collection": "students", "sourcedId": source_id,
                             "fields": {"familyName": family_name}}])
    return source_id


def test_unchanged_resyncs_keep_one_row_per_rejection_and_every_report_counts_it(district, write_config, sync, warehouse_url):
    bad = reject_student(district, 3)
    config = write_config(district)
    # the second compares every row (--reprocess), the third stands on it (an unchanged delivery): both count it
    reports = [sync(config, warehouse_url), sync(config, warehouse_url, reprocess=True), sync(config, warehouse_url)]
    assert [r["status"] for r in reports] == ["success"] * 3
    assert [r.get("unchanged_since") for r in reports] == [None, None, reports[1]["run_id"]]
    assert [r["entities"]["students"]["rejected"] for r in reports] == [1, 1, 1]
    (row,) = rejections(warehouse_url)
    assert (row.source_id, row.times_rejected, row.run_id) == (bad, 3, reports[-1]["run_id"])
    assert row.first_rejected_at < row.rejected_at

    reject_student(district, 3, family_name="\t")  # a different payload is a different rejection
    assert sync(config, warehouse_url)["entities"]["students"]["rejected"] == 1
    assert [(r.source_id, r.times_rejected) for r in rejections(warehouse_url)] == [(bad, 3), (bad, 1)]


def test_rejections_no_run_has_seen_for_the_retention_period_are_pruned(district, write_config, sync, postgres_url, monkeypatch):
    config = write_config(district)
    fixed_later = reject_student(district, 4)
    assert sync(config, postgres_url)["status"] == "success"
    district.reset()
    still_bad = reject_student(district, 5)
    assert sync(config, postgres_url)["status"] == "success"
    assert {r.source_id for r in rejections(postgres_url)} == {fixed_later, still_bad}  # 30 days by default

    monkeypatch.setenv("SIS_REJECTED_RETENTION_DAYS", "0")  # keep only what this run saw
    assert sync(config, postgres_url)["status"] == "success"
    assert {r.source_id for r in rejections(postgres_url)} == {still_bad}


def test_retention_days_must_be_a_whole_number():
    assert retention_days({}) == 30 and retention_days({"SIS_REJECTED_RETENTION_DAYS": "7"}) == 7
    with pytest.raises(ConfigError, match="SIS_REJECTED_RETENTION_DAYS"):
        retention_days({"SIS_REJECTED_RETENTION_DAYS": "a week"})


def test_rejections_from_before_the_upgrade_are_kept_one_row_each(warehouse_url):
    engine = create_warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        row = {"run_id": "r1", "integration": "springfield", "entity": "students", "source_id": "stu-1",
               "reasons": "last_name: empty", "payload": "{}"}
        for _ in range(2):
            conn.execute(text(
                "INSERT INTO rejected_records (run_id, integration, entity, source_id, reasons, payload, rejected_at) "
                "VALUES (:run_id, :integration, :entity, :source_id, :reasons, :payload, CURRENT_TIMESTAMP)"
            ), row)
    ensure_schema(engine)
    engine.dispose()
    rows = rejections(warehouse_url)
    assert len(rows) == 2 and {r.times_rejected for r in rows} == {1}
    assert all(r.fingerprint.startswith("legacy-") and r.first_rejected_at == r.rejected_at for r in rows)
