"""The enrollment lifecycle: current enrollments, withdrawals, re-enrollment, teachers of record; history kept."""

from datetime import date, timedelta

from sqlalchemy import text

from sis_pipeline.warehouse.engine import create_warehouse_engine


def count(url: str, sql: str, **params) -> int:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        value = conn.execute(text(sql), params).scalar_one()
    engine.dispose()
    return value


def test_withdrawal_and_re_enrollment_move_enrollments_in_and_out_of_current(district, write_config, sync, warehouse_url):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    total = count(warehouse_url, "SELECT count(*) FROM enrollments")
    current = count(warehouse_url, "SELECT count(*) FROM current_enrollments")
    dated_now = count(
        warehouse_url,
        "SELECT count(*) FROM enrollments WHERE (begin_date IS NULL OR begin_date <= :today) AND (end_date IS NULL OR end_date > :today)",
        today=date.today().isoformat(),
    )
    assert current == dated_now and current > 0

    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        current_ids = conn.execute(text("SELECT source_id, user_source_id FROM current_enrollments WHERE role = 'student' ORDER BY source_id")).all()
    engine.dispose()
    withdrawn_enrollment, pupil = current_ids[0]
    yesterday = (date.today() - timedelta(days=1)).isoformat()

    # a withdrawal: the SIS ends the enrollment (end dates are exclusive: it ended yesterday's midnight)
    district.apply_changes([{"op": "update", "collection": "enrollments", "sourcedId": withdrawn_enrollment, "fields": {"endDate": yesterday}}])
    assert sync(config, warehouse_url, mode="incremental")["status"] == "success"
    assert count(warehouse_url, "SELECT count(*) FROM current_enrollments") == current - 1
    assert count(warehouse_url, "SELECT count(*) FROM enrollments") == total  # kept for history

    # re-enrollment: open again
    district.apply_changes([{"op": "update", "collection": "enrollments", "sourcedId": withdrawn_enrollment, "fields": {"endDate": None}}])
    assert sync(config, warehouse_url, mode="incremental")["status"] == "success"
    assert count(warehouse_url, "SELECT count(*) FROM current_enrollments") == current

    # a student the SIS deletes takes all of their enrollments out of current, and none is deleted
    theirs = count(warehouse_url, "SELECT count(*) FROM current_enrollments WHERE user_source_id = :pupil", pupil=pupil)
    district.apply_changes([{"op": "tobedeleted", "collection": "students", "sourcedId": pupil}])
    assert sync(config, warehouse_url, mode="incremental")["status"] == "success"
    assert count(warehouse_url, "SELECT count(*) FROM current_enrollments") == current - theirs
    assert count(warehouse_url, "SELECT count(*) FROM enrollments") == total


def test_every_section_with_a_current_teacher_has_one_teacher_of_record(district, write_config, sync, warehouse_url):
    assert sync(write_config(district), warehouse_url)["status"] == "success"
    taught = count(warehouse_url, "SELECT count(DISTINCT section_source_id) FROM current_enrollments WHERE role = 'teacher'")
    assert taught > 0
    assert count(warehouse_url, "SELECT count(DISTINCT section_source_id) FROM teachers_of_record") == taught
    assert count(warehouse_url, "SELECT count(*) FROM teachers_of_record") >= taught
