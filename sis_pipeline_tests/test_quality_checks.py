"""Data-quality checks: each one fails on purpose-built bad data and passes on a clean district, on both
warehouses; every outcome lands in `check_results`; a blocking failure shows in Dagster and in the CLI report.

Bad data is written straight into the warehouse tables after a clean sync (the pipeline's own validation
refuses most of it at the door), or served by the simulator where the pipeline lets it through.
"""

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest
from sqlalchemy import func, insert, select, update

from sis_pipeline.config import QualityThresholds, load_config
from sis_pipeline.defs import build_resources, roster_assets
from sis_pipeline.quality.checks import CATALOGUE, run_checks
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.check_results import read_check_results
from sis_pipeline.warehouse.schema import ENTITY_TABLES, rejected_records, sync_runs

T = ENTITY_TABLES
NAME = "springfield"
NO_HOLDS = {"safety": {"max_archive_fraction": 1, "max_change_fraction": 1}}


@contextmanager
def warehouse(url):
    engine = create_warehouse_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def failing(engine, severity: str, run_id: str, thresholds: QualityThresholds | None = None, now=None) -> dict:
    """(entity, check) -> outcome of every check of `severity` that failed."""
    outcomes = run_checks(engine, NAME, thresholds or QualityThresholds(), run_id=run_id, severity=severity, now=now)
    return {(o.entity, o.check_name): o for o in outcomes if not o.passed}


def first(conn, query):
    return conn.execute(query.limit(1)).scalar_one()


def active(entity):
    return (T[entity].c.integration == NAME) & T[entity].c.archived_at.is_(None)


def enrolled_student(conn) -> str:
    e = T["enrollments"]
    return first(conn, select(e.c.user_source_id).where(active("enrollments"), e.c.role == "student").order_by(e.c.user_source_id))


def a_section(conn) -> str:
    return first(conn, select(T["sections"].c.source_id).where(active("sections")).order_by(T["sections"].c.source_id))


def a_teacher(conn) -> str:
    e = T["enrollments"]
    return first(conn, select(e.c.user_source_id).where(active("enrollments"), e.c.role == "teacher").order_by(e.c.user_source_id))


def archive(conn, entity, *where):
    conn.execute(update(T[entity]).where(active(entity), *where).values(archived_at=datetime.now(UTC)))


def set_values(conn, entity, source_id, **values):
    conn.execute(update(T[entity]).where(T[entity].c.source_id == source_id).values(**values))


def new_row(entity, source_id, **values):
    now = datetime.now(UTC)
    return insert(T[entity]).values(
        integration=NAME, source_id=source_id, status="active", first_seen_at=now, updated_at=now, **values
    )


# --- ERROR: keys, references, required fields ------------------------------------------------------


def blank_first_name(conn):
    student = enrolled_student(conn)
    set_values(conn, "students", student, first_name="  ")
    return student, 1


def shared_state_id(conn):
    students = T["students"]
    one, two = conn.execute(select(students.c.source_id, students.c.state_id).where(active("students")).order_by(students.c.source_id).limit(2)).all()
    set_values(conn, "students", two.source_id, state_id=one.state_id)
    return two.source_id, 2  # both of them


def enrollment_of_unknown_user(conn):
    e = T["enrollments"]
    enrollment = first(conn, select(e.c.source_id).where(active("enrollments")).order_by(e.c.source_id))
    set_values(conn, "enrollments", enrollment, user_source_id="user-nobody-knows")
    return enrollment, 1


def enrollment_of_unknown_section(conn):
    e = T["enrollments"]
    enrollment = first(conn, select(e.c.source_id).where(active("enrollments")).order_by(e.c.source_id))
    set_values(conn, "enrollments", enrollment, section_source_id="section-nobody-knows")
    return enrollment, 1


def section_of_unknown_course(conn):
    section = a_section(conn)
    set_values(conn, "sections", section, course_source_id="course-nobody-knows")
    return section, 1


def section_of_unknown_school(conn):
    section = a_section(conn)
    set_values(conn, "sections", section, school_source_id="school-nobody-knows")
    return section, 1


def section_with_one_unknown_term(conn):
    section = a_section(conn)
    terms = first(conn, select(T["sections"].c.term_source_ids).where(T["sections"].c.source_id == section))
    set_values(conn, "sections", section, term_source_ids=f"{terms},term-nobody-knows")
    return section, 1


def term_id_that_only_a_wildcard_matches(conn):
    """`_` in a stored term id must not match any character of the id a section names."""
    conn.execute(new_row("terms", "term_9", title="Summer"))
    section = a_section(conn)
    set_values(conn, "sections", section, term_source_ids="termX9")
    return section, 1


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (blank_first_name, ("students", "required_fields")),
        (shared_state_id, ("students", "unique_state_id")),
        (enrollment_of_unknown_user, ("enrollments", "user_exists")),
        (enrollment_of_unknown_section, ("enrollments", "section_exists")),
        (section_of_unknown_course, ("sections", "course_exists")),
        (section_of_unknown_school, ("sections", "school_exists")),
        (section_with_one_unknown_term, ("sections", "terms_exist")),
        (term_id_that_only_a_wildcard_matches, ("sections", "terms_exist")),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_each_blocking_check_fails_on_its_bad_data_alone(first_synced, warehouse_url, corrupt, expected):
    report = first_synced
    with warehouse(warehouse_url) as engine:
        assert failing(engine, "ERROR", report["run_id"]) == {}
        with engine.begin() as conn:
            offender, offending_rows = corrupt(conn)
        failed = failing(engine, "ERROR", report["run_id"])

    assert set(failed) == {expected}
    outcome = failed[expected]
    assert outcome.severity == "ERROR" and outcome.observed == offending_rows and outcome.threshold == 0
    assert offender in outcome.detail


def test_details_name_ids_and_columns_never_the_values(first_synced, warehouse_url):
    report = first_synced
    students = T["students"]
    with warehouse(warehouse_url) as engine:
        with engine.begin() as conn:
            rows = conn.execute(select(students).where(active("students")).order_by(students.c.source_id).limit(2)).all()
            set_values(conn, "students", rows[1].source_id, state_id=rows[0].state_id, last_name="")
        failed = failing(engine, "ERROR", report["run_id"])

    details = " ".join(outcome.detail for outcome in failed.values())
    assert "last_name: 1" in failed[("students", "required_fields")].detail
    assert rows[0].source_id in details and rows[1].source_id in details
    for personal in (rows[0].state_id, rows[0].first_name, rows[0].last_name, rows[1].first_name, rows[1].last_name):
        assert personal not in details


# --- WARN: drift, null rates, freshness, sanity counts -----------------------------------------------


def students_without(column):
    def corrupt(conn):
        students = T["students"]
        chosen = select(students.c.source_id).where(active("students")).order_by(students.c.source_id).limit(40)
        conn.execute(update(students).where(students.c.source_id.in_(chosen.scalar_subquery())).values({column: None}))
        return None

    corrupt.__name__ = f"students_without_{column}"
    return corrupt


def student_enrolled_nowhere(conn):
    student = enrolled_student(conn)
    archive(conn, "enrollments", T["enrollments"].c.user_source_id == student)
    return student


def section_without_students(conn):
    section = a_section(conn)
    e = T["enrollments"]
    archive(conn, "enrollments", e.c.section_source_id == section, e.c.role == "student")
    return section


def section_without_teacher(conn):
    section = a_section(conn)
    e = T["enrollments"]
    archive(conn, "enrollments", e.c.section_source_id == section, e.c.role == "teacher")
    return section


def course_nobody_offers(conn):
    conn.execute(new_row("courses", "course-without-sections", title="Latin IV"))
    return "course-without-sections"


def archived_student_still_enrolled(conn):
    """A withdrawn student whose enrollments the SIS still lists: known, so no broken reference, but odd."""
    student = enrolled_student(conn)
    archive(conn, "students", T["students"].c.source_id == student)
    e = T["enrollments"]
    return first(conn, select(e.c.source_id).where(active("enrollments"), e.c.user_source_id == student).order_by(e.c.source_id))


def course_whose_sections_are_archived(conn):
    sections = T["sections"]
    course = first(conn, select(sections.c.course_source_id).where(active("sections")).order_by(sections.c.course_source_id))
    archive(conn, "sections", sections.c.course_source_id == course)
    return course


def enrollment_of_a_rejected_student(conn):
    """The pipeline loads the enrollments of a student it rejected for one bad cell: no broken reference."""
    now = datetime.now(UTC)
    conn.execute(insert(rejected_records).values(
        run_id="r", integration=NAME, entity="students", source_id="stu-rejected", reasons="birth_date: not a date",
        rejected_at=now, first_rejected_at=now, times_rejected=1, fingerprint="f",
    ))
    e = T["enrollments"]
    enrollment = first(conn, select(e.c.source_id).where(active("enrollments"), e.c.role == "student").order_by(e.c.source_id))
    set_values(conn, "enrollments", enrollment, user_source_id="stu-rejected")
    return enrollment


def enrollment_ending_before_it_begins(conn):
    e = T["enrollments"]
    enrollment = first(conn, select(e.c.source_id).where(active("enrollments")).order_by(e.c.source_id))
    set_values(conn, "enrollments", enrollment, begin_date=date(2027, 5, 1), end_date=date(2026, 9, 1))
    return enrollment


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (students_without("state_id"), {("students", "state_id_null_rate")}),
        (students_without("birth_date"), {("students", "birth_date_null_rate")}),
        (students_without("grade_level"), {("students", "grade_level_null_rate")}),
        (student_enrolled_nowhere, {("students", "without_enrollments")}),
        (section_without_students, {("sections", "without_students")}),
        (section_without_teacher, {("sections", "without_teacher")}),
        (course_nobody_offers, {("courses", "without_sections")}),
        (course_whose_sections_are_archived, {("courses", "without_sections"), ("enrollments", "inactive_references")}),
        (enrollment_ending_before_it_begins, {("enrollments", "ending_before_beginning")}),
        (archived_student_still_enrolled, {("enrollments", "inactive_references")}),
        (enrollment_of_a_rejected_student, {("enrollments", "inactive_references")}),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_each_warning_fails_on_its_bad_data_alone(first_synced, warehouse_url, corrupt, expected):
    report = first_synced
    with warehouse(warehouse_url) as engine:
        assert failing(engine, "WARN", report["run_id"]) == {}
        with engine.begin() as conn:
            offender = corrupt(conn)
        failed = failing(engine, "WARN", report["run_id"])
        blocking = failing(engine, "ERROR", report["run_id"])

    assert set(failed) == expected
    assert blocking == {}  # a warning's bad data breaks no blocking check
    if offender is not None:
        assert any(offender in outcome.detail for outcome in failed.values())  # named by the check it offends


def test_a_teacher_without_sections_leaves_their_sections_without_a_teacher(first_synced, warehouse_url):
    report = first_synced
    with warehouse(warehouse_url) as engine:
        with engine.begin() as conn:
            teacher = a_teacher(conn)
            taught = conn.execute(
                select(func.count()).where(active("enrollments"), T["enrollments"].c.user_source_id == teacher)
            ).scalar_one()
            archive(conn, "enrollments", T["enrollments"].c.user_source_id == teacher)
        failed = failing(engine, "WARN", report["run_id"])

    assert set(failed) == {("teachers", "without_sections"), ("sections", "without_teacher")}
    assert teacher in failed[("teachers", "without_sections")].detail
    assert failed[("sections", "without_teacher")].observed == taught


def test_null_rates_are_judged_against_the_integration_threshold(district, write_config, sync, warehouse_url):
    report = sync(write_config(district, quality={"max_null_fraction": 0.01}), warehouse_url)
    thresholds = load_config(write_config(district, quality={"max_null_fraction": 0.01})).integration(NAME).quality
    with warehouse(warehouse_url) as engine:
        with engine.begin() as conn:
            students_without("state_id")(conn)  # 40 of 650: 6.2%
        assert ("students", "state_id_null_rate") in failing(engine, "WARN", report["run_id"], thresholds)
        lenient = QualityThresholds(max_null_fraction=0.07)
        outcome = next(o for o in run_checks(engine, NAME, lenient, run_id=report["run_id"], severity="WARN") if o.check_name == "state_id_null_rate")

    assert outcome.passed and outcome.observed == pytest.approx(40 / 650, abs=1e-4) and outcome.threshold == 0.07


def test_freshness_fails_once_the_last_successful_sync_is_older_than_the_window(district, write_config, sync, warehouse_url):
    report = sync(write_config(district), warehouse_url)
    with warehouse(warehouse_url) as engine:
        later = datetime.now(UTC) + timedelta(hours=35)
        assert failing(engine, "WARN", report["run_id"], now=later) == {}
        much_later = datetime.now(UTC) + timedelta(hours=40)
        failed = failing(engine, "WARN", report["run_id"], now=much_later)
        with engine.begin() as conn:
            conn.execute(update(sync_runs).values(status="failed"))
        never = failing(engine, "WARN", report["run_id"])

    assert set(failed) == {(entity, "freshness") for entity in T}
    assert all(o.observed == pytest.approx(40, abs=0.1) and o.threshold == 36 for o in failed.values())
    assert set(never) == {(entity, "freshness") for entity in T}
    assert all(o.detail == "no successful sync recorded" for o in never.values())


def remove_students(district, count: int) -> list[str]:
    """The SIS stops listing `count` students but keeps serving their enrollments."""
    gone = [district.district.students.sourced_id(i) for i in range(count)]
    district.apply_changes([{"op": "remove", "collection": "students", "sourcedId": s} for s in gone])
    return gone


def test_row_count_drift_compares_with_the_previous_full_sync(district, write_config, sync, warehouse_url):
    config = write_config(district, **NO_HOLDS)
    before = sync(config, warehouse_url)
    remove_students(district, 200)
    after = sync(config, warehouse_url)
    with warehouse(warehouse_url) as engine:
        failed = failing(engine, "WARN", after["run_id"])
        first_run = failing(engine, "WARN", before["run_id"])  # judged against no earlier full sync

    assert set(failed) == {("students", "row_count_drift"), ("enrollments", "inactive_references")}
    drift = failed[("students", "row_count_drift")]
    assert drift.observed == pytest.approx(200 / 650, abs=1e-4) and drift.threshold == 0.2
    assert before["run_id"] in drift.detail
    assert not any(check == "row_count_drift" for _, check in first_run)


# --- The Dagster layer: recorded in check_results, visible in the run, reported by the CLI --------------


def test_a_clean_sync_checks_every_table_and_records_every_outcome(district, write_config, sync, warehouse_url):
    report = sync(write_config(district), warehouse_url)

    assert report["status"] == "success"
    assert report["checks"] == {"passed": len(CATALOGUE), "failed": []}
    with warehouse(warehouse_url) as engine:
        recorded = read_check_results(engine, NAME, report["run_id"])
    assert {(r["entity"], r["check_name"], r["severity"], r["outcome"]) for r in recorded} == {
        (c.entity, c.name, c.severity, "passed") for c in CATALOGUE
    }
    assert len(recorded) == len(CATALOGUE)


def serve_a_shared_state_id(district, warehouse_url) -> str:
    """The SIS gives a second student the state id of the first: two active children with one state id."""
    students = T["students"]
    one, two = (district.district.students.sourced_id(i) for i in (0, 1))
    with warehouse(warehouse_url) as engine, engine.connect() as conn:
        state_id = conn.execute(select(students.c.state_id).where(students.c.source_id == one)).scalar_one()
    district.apply_changes(
        [{"op": "update", "collection": "students", "sourcedId": two, "fields": {"userIds": [{"type": "stateId", "identifier": state_id}]}}]
    )
    return two


def test_a_blocking_failure_shows_in_the_dagster_run(district, write_config, warehouse_url, tmp_path):
    config = load_config(write_config(district))
    resources = build_resources(config, warehouse_url, str(tmp_path / "staging"))
    assert dg.materialize(roster_assets(config), partition_key=NAME, resources=resources).success
    serve_a_shared_state_id(district, warehouse_url)

    result = dg.materialize(roster_assets(config), partition_key=NAME, resources=resources, raise_on_error=False)

    assert not result.success  # Dagster fails the step of a blocking check that failed with ERROR
    evaluations = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert len(evaluations) == len(CATALOGUE)
    failed = {key: e for key, e in evaluations.items() if not e.passed}
    assert set(failed) == {("students", "unique_state_id")}
    assert failed[("students", "unique_state_id")].severity == dg.AssetCheckSeverity.ERROR
    assert len(result.get_asset_materialization_events()) == 3 + 7  # the tables loaded before the checks judged them
    with warehouse(warehouse_url) as engine:
        recorded = {(r["entity"], r["check_name"]): r["outcome"] for r in read_check_results(engine, NAME, result.run_id)}
    assert {key for key, outcome in recorded.items() if outcome == "failed"} == set(failed)


def test_the_cli_report_fails_on_a_blocking_check_but_keeps_what_loaded(district, write_config, sync, warehouse_url):
    config = write_config(district)
    sync(config, warehouse_url)
    student = serve_a_shared_state_id(district, warehouse_url)

    report = sync(config, warehouse_url)

    assert report["status"] == "failed" and report["error_class"] == "quality"
    assert report["error"].startswith("blocking checks failed: students/unique_state_id (2 active students share a state id: ")
    assert student in report["error"]
    assert report["entities"]["students"]["updated"] == 1
    assert [c["check"] for c in report["checks"]["failed"]] == ["students/unique_state_id"]
    with warehouse(warehouse_url) as engine, engine.connect() as conn:
        status = conn.execute(select(sync_runs.c.status).where(sync_runs.c.run_id == report["run_id"])).scalar_one()
    assert status == "success"  # the load committed; the checks judged what it committed


def test_withdrawn_students_still_enrolled_only_warn(district, write_config, sync, warehouse_url):
    config = write_config(district, **NO_HOLDS)
    sync(config, warehouse_url)
    remove_students(district, 200)

    report = sync(config, warehouse_url)

    assert report["status"] == "success"
    assert report["entities"]["students"]["archived"] == 200
    assert [(c["check"], c["severity"]) for c in report["checks"]["failed"]] == [
        ("students/row_count_drift", "WARN"), ("enrollments/inactive_references", "WARN"),
    ]


def test_a_failed_warning_keeps_the_sync_successful(district, write_config, sync, warehouse_url):
    sync_config = write_config(district)
    enrollment = district.district.enrollments.sourced_id(0)
    district.apply_changes(
        [{"op": "update", "collection": "enrollments", "sourcedId": enrollment, "fields": {"beginDate": "2027-05-01", "endDate": "2026-09-01"}}]
    )

    report = sync(sync_config, warehouse_url)

    assert report["status"] == "success"
    assert report["checks"]["passed"] == len(CATALOGUE) - 1
    [warning] = report["checks"]["failed"]
    assert warning["check"] == "enrollments/ending_before_beginning" and warning["severity"] == "WARN"
    assert enrollment in warning["detail"]
    with warehouse(warehouse_url) as engine:
        recorded = read_check_results(engine, NAME, report["run_id"])
    assert [(r["check_name"], r["severity"]) for r in recorded if r["outcome"] == "failed"] == [("ending_before_beginning", "WARN")]
