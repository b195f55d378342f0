"""The students' resolve step, a row group at a time, writes exactly what resolving the whole delivery at once wrote."""

import itertools
import uuid
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, select

from sis_pipeline import staging
from sis_pipeline.resolve import identity
from sis_pipeline.resolve.identity import resolve_identities
from sis_pipeline.resolve.stage import resolve_students
from sis_pipeline.staging import read_frame, write_frame
from sis_pipeline.warehouse import student_mappings
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.identity_reviews import record_reviews
from sis_pipeline.warehouse.overrides import set_override, settle_conflicts
from sis_pipeline.warehouse.schema import ENTITY_TABLES, identity_reviews
from sis_pipeline_tests.helpers import query_rows

ROWS_PER_GROUP = 50  # the district's 650 students in 13 row groups


def resolve_whole(engine, integration: str, run_id: str, strategy: str, delivered: str, out: Path):
    """What the resolve step did before it streamed: the whole delivery read, resolved and written at once."""
    students = read_frame(delivered)
    students, reviews = resolve_identities(students, student_mappings.read_identity_index(engine, integration, students), integration)
    opened = record_reviews(engine, run_id, integration, reviews)
    decisions = settle_conflicts(engine, integration, strategy, students)
    return write_frame(out, students), decisions, opened


def reviews_asked(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(identity_reviews.c.source_id, identity_reviews.c.candidate_uid, identity_reviews.c.reason)
                                                   .order_by(identity_reviews.c.source_id))]


def a_delivery_with_every_kind_of_match(valid: pd.DataFrame, uid_of: dict[str, str], engine) -> pd.DataFrame:
    """The synced district again, changed so that every identity rule and a local-edit conflict occur, spread over row groups."""
    delivery = valid.copy()
    legacy, state, twin, edited, untouched_edit = (delivery.index[i] for i in (75, 333, 120, 610, 480))
    delivery.loc[legacy, ["legacy_source_id", "source_id"]] = [delivery.at[legacy, "source_id"], "rekeyed-with-legacy-id"]
    delivery.loc[state, ["source_id", "student_number"]] = ["rekeyed-same-state-id", None]
    near_twin = delivery.loc[[twin]].assign(source_id="near-twin", state_id="NO-SUCH-STATE-ID", student_number="NO-SUCH-NUMBER")
    # nine row groups after the re-keyed record, a second record with its state id: the uid is taken
    second_claim = delivery.loc[[state]].assign(source_id="second-claim", first_name="Other", last_name="Child")
    delivery.loc[edited, "last_name"] = "Sis-Spelling"
    for row, value in ((edited, "Local-Spelling"), (untouched_edit, "Kept-Spelling")):
        set_override(engine, uid_of[delivery.at[row, "source_id"]], "last_name", value, "registrar", None)
    return pd.concat([delivery.iloc[:400], near_twin, delivery.iloc[400:], second_claim], ignore_index=True)


@pytest.mark.parametrize("index_read", ["by keys", "every row"])
def test_streamed_students_equal_the_whole_frame_result(index_read, district, write_config, sync, warehouse_url, tmp_path, monkeypatch):
    config = write_config(district, conflict_strategy="manual")
    assert sync(config, warehouse_url)["status"] == "success"
    valid = read_frame(str(next((tmp_path / "staging").rglob("normalized/valid/students.parquet"))))
    students = ENTITY_TABLES["students"]
    uid_of = {row["source_id"]: row["student_uid"] for row in query_rows(warehouse_url, select(students.c.source_id, students.c.student_uid))}
    if index_read == "every row":
        monkeypatch.setattr(student_mappings, "TARGETED_UP_TO", 0)
    monkeypatch.setattr(staging, "ROW_GROUP_ROWS", ROWS_PER_GROUP)
    engine = create_warehouse_engine(warehouse_url)
    try:
        delivered = tmp_path / "delivered.parquet"
        write_frame(delivered, a_delivery_with_every_kind_of_match(valid, uid_of, engine))
        assert pq.ParquetFile(delivered).num_row_groups == 14

        minted = itertools.count()
        monkeypatch.setattr(identity.uuid, "uuid4", lambda: uuid.UUID(int=next(minted)))  # the same "new" uids on both paths
        whole, whole_decisions, whole_opened = resolve_whole(engine, "springfield", "run-1", "manual", str(delivered), tmp_path / "whole.parquet")
        whole_reviews = reviews_asked(engine)
        with engine.begin() as conn:
            conn.execute(delete(identity_reviews))
        minted = itertools.count()
        streamed = resolve_students(engine, "springfield", "run-1", "manual", str(delivered), tmp_path / "streamed.parquet")
        streamed_reviews = reviews_asked(engine)
    finally:
        engine.dispose()

    expected, got = pd.read_parquet(whole["path"]), pd.read_parquet(streamed.students["path"])
    assert streamed.students["rows"] == whole["rows"] == 652
    pd.testing.assert_frame_equal(got, expected)
    assert pq.read_schema(streamed.students["path"]).equals(pq.read_schema(whole["path"]), check_metadata=True)
    rules = expected.set_index("source_id")["identity_rule"]
    special = ["rekeyed-with-legacy-id", "rekeyed-same-state-id", "near-twin", "second-claim"]
    assert rules[special].tolist() == ["legacy_source_id", "state_id", "new", "new"]
    assert (rules.drop(special) == "source_id").all()

    pd.testing.assert_frame_equal(streamed.decisions, whole_decisions)
    assert whole_decisions[["field", "action", "sis_value", "local_value"]].values.tolist() == [
        ["last_name", "conflict", "Sis-Spelling", "Local-Spelling"]
    ]
    assert streamed.reviews_opened == whole_opened == 2
    assert streamed_reviews == whole_reviews and [(source, reason) for source, _, reason in whole_reviews] == [
        ("near-twin", "same name and birth date as an existing child; not merged automatically"),
        ("second-claim", "shares the uid of another record in this delivery"),
    ]


def test_a_delivery_matched_by_source_ids_never_reads_the_stored_students(district, write_config, sync, sqlite_url, tmp_path, monkeypatch):
    """A re-sync whose every record matches by source id (a --reprocess run) needs the links alone: the
    stored students (ids, names, birth dates of every child) are read only once a record is left unmatched."""
    assert sync(write_config(district), sqlite_url)["status"] == "success"
    valid = str(next((tmp_path / "staging").rglob("normalized/valid/students.parquet")))
    monkeypatch.setattr(student_mappings, "TARGETED_UP_TO", 0)  # a large delivery: the whole index
    reads, read_people = [], student_mappings._people
    monkeypatch.setattr(student_mappings, "_people", lambda *args: reads.append(args[1]) or read_people(*args))
    engine = create_warehouse_engine(sqlite_url)
    try:
        again = resolve_students(engine, "springfield", "run-2", "sis_wins", valid, tmp_path / "again.parquet")
        assert again.students["rows"] == 650 and reads == []
        assert set(pd.read_parquet(again.students["path"])["identity_rule"]) == {"source_id"}

        rekeyed = read_frame(valid)
        rekeyed.loc[0, "source_id"] = "rekeyed-record"
        write_frame(tmp_path / "rekeyed.parquet", rekeyed)
        resolved = resolve_students(engine, "springfield", "run-3", "sis_wins", str(tmp_path / "rekeyed.parquet"), tmp_path / "out.parquet")
    finally:
        engine.dispose()
    assert reads == [[None]]  # every stored student, read once
    assert pd.read_parquet(resolved.students["path"]).set_index("source_id").at["rekeyed-record", "identity_rule"] == "state_id"
