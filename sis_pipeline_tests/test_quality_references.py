"""The checks' set-based SQL on rows written by hand, on both warehouses: samples past five offenders,
references counted once however many ways they resolve, and planner statistics refreshed after a load.

test_quality_checks.py judges whole synced districts; these few rows make the edge cases plain and fast.
"""

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from sis_pipeline.config import QualityThresholds
from sis_pipeline.quality.checks import run_checks
from sis_pipeline.warehouse.schema import ENTITY_TABLES, rejected_records
from sis_pipeline.warehouse.statistics import refresh_statistics

T = ENTITY_TABLES
NAME = "shelbyville"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def add(conn, entity, source_id, *, archived=False, **values):
    required = {
        "schools": {"name": "Shelbyville Elementary"},
        "students": {"first_name": "Ada", "last_name": "Byron", "student_uid": str(uuid.uuid4())},
        "teachers": {"first_name": "Edna", "last_name": "K", "role": "teacher", "teacher_uid": str(uuid.uuid4())},
        "enrollments": {"role": "student"},
    }.get(entity, {"title": source_id})
    conn.execute(insert(T[entity]).values(
        integration=NAME, source_id=source_id, status="active", first_seen_at=NOW, updated_at=NOW,
        archived_at=NOW if archived else None, **{**required, **values},
    ))


def reject(conn, entity, source_id, fingerprint):
    conn.execute(insert(rejected_records).values(
        run_id="r", integration=NAME, entity=entity, source_id=source_id, reasons="a bad cell",
        rejected_at=NOW, first_rejected_at=NOW, times_rejected=1, fingerprint=fingerprint,
    ))


@pytest.fixture
def roster(warehouse_engine):
    """One school, term, course and section, its teacher and one student: every check of references passes."""
    with warehouse_engine.begin() as conn:
        add(conn, "schools", "sch-1")
        add(conn, "terms", "trm-1")
        add(conn, "courses", "crs-1")
        add(conn, "sections", "sec-1", course_source_id="crs-1", school_source_id="sch-1", term_source_ids="trm-1")
        add(conn, "teachers", "tch-1")
        add(conn, "students", "stu-1")
        add(conn, "enrollments", "enr-t", section_source_id="sec-1", user_source_id="tch-1", role="teacher")
        add(conn, "enrollments", "enr-s", section_source_id="sec-1", user_source_id="stu-1")
    return warehouse_engine


def outcome(engine, severity, check):
    outcomes = run_checks(engine, NAME, QualityThresholds(), run_id="judged", severity=severity)
    return next(o for o in outcomes if (o.entity, o.check_name) == check)


def test_the_clean_roster_passes_every_reference_check(roster):
    for severity, check in (
        ("ERROR", ("enrollments", "user_exists")), ("ERROR", ("enrollments", "section_exists")),
        ("WARN", ("enrollments", "inactive_references")),
    ):
        assert outcome(roster, severity, check).passed


def test_a_sample_names_the_first_five_ids_in_order_and_counts_the_rest(roster):
    with roster.begin() as conn:
        for n in (7, 3, 1, 6, 2, 5, 4):  # inserted out of order: the sample is sorted, not first come
            add(conn, "enrollments", f"enr-x{n}", section_source_id="sec-1", user_source_id="stu-nobody-knows")

    found = outcome(roster, "ERROR", ("enrollments", "user_exists"))

    assert not found.passed and found.observed == 7
    assert found.detail == (
        "7 active enrollments name a user who is no known student or teacher: "
        "enr-x1, enr-x2, enr-x3, enr-x4, enr-x5 and 2 more"
    )


def test_an_enrollment_of_an_archived_person_in_an_archived_section_is_one_inactive_reference(roster):
    with roster.begin() as conn:
        add(conn, "students", "stu-gone", archived=True)
        add(conn, "sections", "sec-gone", archived=True, course_source_id="crs-1", school_source_id="sch-1", term_source_ids="trm-1")
        add(conn, "enrollments", "enr-both", section_source_id="sec-gone", user_source_id="stu-gone")

    found = outcome(roster, "WARN", ("enrollments", "inactive_references"))

    assert found.observed == 1 and "enr-both" in found.detail
    assert outcome(roster, "ERROR", ("enrollments", "user_exists")).passed
    assert outcome(roster, "ERROR", ("enrollments", "section_exists")).passed


def test_a_person_and_a_section_rejected_twice_are_known_and_counted_once(roster):
    """One source id can hold several rejections (one per distinct payload): still one reference, one enrollment."""
    with roster.begin() as conn:
        for fingerprint in ("first-payload", "second-payload"):
            reject(conn, "students", "stu-rejected", f"student-{fingerprint}")
            reject(conn, "sections", "sec-rejected", f"section-{fingerprint}")
        reject(conn, "teachers", "stu-rejected", "a-teacher-of-that-id-too")
        add(conn, "enrollments", "enr-rejected-user", section_source_id="sec-1", user_source_id="stu-rejected")
        add(conn, "enrollments", "enr-rejected-section", section_source_id="sec-rejected", user_source_id="stu-1")

    assert outcome(roster, "ERROR", ("enrollments", "user_exists")).passed
    assert outcome(roster, "ERROR", ("enrollments", "section_exists")).passed
    found = outcome(roster, "WARN", ("enrollments", "inactive_references"))
    assert found.observed == 2
    assert found.detail.endswith(": enr-rejected-section, enr-rejected-user")


def test_a_rejection_of_another_entity_does_not_make_an_id_known(roster):
    with roster.begin() as conn:
        reject(conn, "courses", "sec-course-id", "f")
        add(conn, "enrollments", "enr-odd", section_source_id="sec-course-id", user_source_id="stu-1")

    found = outcome(roster, "ERROR", ("enrollments", "section_exists"))

    assert found.observed == 1 and "enr-odd" in found.detail


def test_statistics_are_refreshed_once_after_a_load_and_only_on_postgresql(roster):
    tables = [*T, rejected_records.name]
    with roster.connect() as conn:
        refreshed = refresh_statistics(conn, tables)
        again = refresh_statistics(conn, tables)

    if roster.dialect.name == "postgresql":
        assert "enrollments" in refreshed and "students" in refreshed
        assert again == []
    else:
        assert refreshed == again == []
