"""A bad night at the input (issue 8): hostile files cost their bad records, never a column or the whole integration."""

import zipfile
from datetime import date

import pytest
from sqlalchemy import select

from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.runs import read_sync_run
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import FILES, USERS, csv_config, manifest, rejected, student, write_package

BULK = dict.fromkeys(FILES, "bulk")
USERS_HEADER = USERS.splitlines()[0]


def sync_package(tmp_path, sync, url, name, files=FILES, modes=BULK, **options):
    package = write_package(tmp_path / name, files, modes, as_zip=True, **options.pop("write", {}))
    return sync(csv_config(tmp_path, package, **options), url)


def run_counts(url: str, result: dict) -> dict:
    engine = create_warehouse_engine(url)
    record = read_sync_run(engine, result["run_id"], "springfield")
    engine.dispose()
    return record["counts"]


# --- 1. no column blanked by absence ---------------------------------------------------------------


@pytest.mark.parametrize("demographics", ["absent", "header_only"])
def test_demographics_not_delivered_keep_every_birth_date_and_sex(tmp_path, sync, warehouse_url, demographics):
    first = sync_package(tmp_path, sync, warehouse_url, "first.zip")
    assert first["status"] == "success", first

    if demographics == "absent":
        files, modes = {k: v for k, v in FILES.items() if k != "demographics"}, {k: "bulk" for k in FILES if k != "demographics"}
    else:
        files, modes = FILES | {"demographics": FILES["demographics"].splitlines()[0] + "\n"}, BULK
    second = sync_package(tmp_path, sync, warehouse_url, "second.zip", files, modes)

    assert second["status"] == "success", second
    assert second["entities"]["students"]["updated"] == 0
    zoe = student(warehouse_url, "stu-1")
    assert (str(zoe.birth_date), zoe.sex) == ("2016-03-04", "female")
    assert run_counts(warehouse_url, second)["kept_columns"] == {"students": ["birth_date", "sex"]}


def test_a_demographics_delta_changes_its_students_and_keeps_the_others(tmp_path, sync, warehouse_url):
    assert sync_package(tmp_path, sync, warehouse_url, "first.zip")["status"] == "success"
    delta = FILES["demographics"].splitlines()[0] + "\nstu-2,active,2026-11-20T10:00:00.000Z,2021-01-31,male,false\n"
    result = sync_package(
        tmp_path, sync, warehouse_url, "delta.zip", {"users": USERS, "demographics": delta}, {"users": "bulk", "demographics": "delta"}
    )

    assert result["status"] == "success", result
    assert result["entities"]["students"]["updated"] == 1
    assert str(student(warehouse_url, "stu-2").birth_date) == "2021-01-31"
    zoe = student(warehouse_url, "stu-1")
    assert (str(zoe.birth_date), zoe.sex) == ("2016-03-04", "female")


def test_a_first_sync_without_demographics_loads_nulls(tmp_path, sync, sqlite_url):
    files = {k: v for k, v in FILES.items() if k != "demographics"}
    result = sync_package(tmp_path, sync, sqlite_url, "drop.zip", files, dict.fromkeys(files, "bulk"))
    assert result["status"] == "success", result
    zoe = student(sqlite_url, "stu-1")
    assert (zoe.birth_date, zoe.sex, zoe.first_name) == (None, None, "Zoë")


# --- 2. strict input: one bad record never fails an integration ------------------------------------


def test_rows_of_the_wrong_width_are_rejected_not_shifted_or_blanked(tmp_path, sync, warehouse_url):
    users = USERS + (
        "stu-5,,,true,sch-1,student,eve,,Eve,Smith, Jr,,1005,eve@example.org,,,,05,\n"  # unquoted comma: 19 cells
        "stu-6,,,true,sch-1,student,sam,,Sam,Lee\n"  # short: 10 cells
    )
    result = sync_package(tmp_path, sync, warehouse_url, "drop.zip", FILES | {"users": users})

    assert result["status"] == "success", result
    assert result["entities"]["students"]["inserted"] == 2  # stu-1 and stu-2, as without the bad rows
    reasons = rejected(warehouse_url)
    assert "users.csv line 7: 19 cells where the header has 18" in reasons["stu-5"]
    assert "users.csv line 8: 10 cells where the header has 18" in reasons["stu-6"]
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        loaded = conn.execute(select(ENTITY_TABLES["students"].c.source_id)).scalars().all()
    engine.dispose()
    assert {"stu-5", "stu-6"}.isdisjoint(loaded)


def test_another_encoding_reads_with_the_option_and_fails_as_data_without_it(tmp_path, sync, sqlite_url):
    latin = {"write": {"encoding": "latin-1"}}
    files = FILES | {"users": USERS.replace("Nguyễn", "Nguyen")}  # Zoë and O'Brien are Latin-1; ễ is not
    failed = sync_package(tmp_path, sync, sqlite_url, "latin.zip", files, **latin)
    assert failed["status"] == "failed", failed
    assert failed["error_class"] == "data"
    assert "users.csv line 2: not valid utf-8" in failed["error"] and "options.encoding" in failed["error"]

    (tmp_path / "integrations.yaml").unlink()
    loaded = sync_package(tmp_path, sync, sqlite_url, "latin-ok.zip", files, encoding="latin-1", **latin)
    assert loaded["status"] == "success", loaded
    assert student(sqlite_url, "stu-1").first_name == "Zoë"


def test_utf8_without_a_byte_order_mark_reads_the_same(tmp_path, sync, sqlite_url):
    result = sync_package(tmp_path, sync, sqlite_url, "plain.zip", write={"dirty_encoding": False})
    assert result["status"] == "success", result
    assert result["entities"]["students"]["inserted"] == 2


def test_a_nul_byte_or_an_overlong_cell_rejects_its_record_only(tmp_path, sync, postgres_url):
    users = USERS + (
        "stu-7,,,true,sch-1,student,nul,,Ni\x00ck,Null,,1007,,,,,05,\n"
        f"stu-8,,,true,sch-1,student,long,,Lo,{'x' * 131_073},,1008,,,,,05,\n"
        f"{'s' * 600},,,true,sch-1,student,key,,Kay,Key,,1009,,,,,05,\n"
    )
    result = sync_package(tmp_path, sync, postgres_url, "drop.zip", FILES | {"users": users})

    assert result["status"] == "success", result
    assert result["entities"]["students"]["inserted"] == 2
    reasons = rejected(postgres_url)
    assert "first_name: contains a NUL character" in reasons["stu-7"]
    assert "last_name: 131073 characters, more than 131072" in reasons["stu-8"]
    assert "source_id: 600 characters, more than 512" in reasons["s" * 512]


def test_conflicting_repeats_are_rejected_together_and_identical_ones_collapse(tmp_path, sync, warehouse_url):
    users = USERS + (
        "stu-1,,,true,sch-1,student,zoe,{stateId:CA100},Zoe,Other,,1001,,,,,05,\n"  # stu-1 again, another name
        + USERS.splitlines()[2] + "\n"  # stu-2 again, byte for byte
    )
    result = sync_package(tmp_path, sync, warehouse_url, "drop.zip", FILES | {"users": users})

    assert result["status"] == "success", result
    assert result["entities"]["students"]["inserted"] == 1  # stu-2, once
    assert "stu-1 occurs 2 times with different content" in rejected(warehouse_url)["stu-1"]
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        rows = conn.execute(select(ENTITY_TABLES["students"].c.source_id)).scalars().all()
    engine.dispose()
    assert rows == ["stu-2"]


def test_open_ended_end_dates_load_and_future_birth_dates_are_rejected(tmp_path, sync, warehouse_url):
    sessions = FILES["academicSessions"] + "sy-9,,,Forever,schoolYear,2026-08-15,9999-12-31,,2027\n"
    enrollments = FILES["enrollments"].replace("enr-1,,,cls-1,sch-1,stu-1,student,false,2026-08-15,2027-01-10",
                                                 "enr-1,,,cls-1,sch-1,stu-1,student,false,2026-08-15,2999-12-31")
    demographics = FILES["demographics"].replace("stu-2,,,2021-01-30", "stu-2,,,2100-01-01")
    files = FILES | {"academicSessions": sessions, "enrollments": enrollments, "demographics": demographics}
    result = sync_package(tmp_path, sync, warehouse_url, "drop.zip", files)

    assert result["status"] == "success", result
    assert "birth_date: 2100-01-01 is after the run's date" in rejected(warehouse_url)["stu-2"]
    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        forever = conn.execute(select(ENTITY_TABLES["terms"].c.end_date).where(ENTITY_TABLES["terms"].c.source_id == "sy-9")).scalar_one()
        enr = conn.execute(select(ENTITY_TABLES["enrollments"].c.end_date).where(ENTITY_TABLES["enrollments"].c.source_id == "enr-1")).scalar_one()
    engine.dispose()
    assert (forever, enr) == (date(9999, 12, 31), date(2999, 12, 31))


def _zip(path, entries: dict[str, bytes]):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name.split("#")[0]), data)
    return path


GOOD = {"manifest.csv": manifest(BULK).encode()} | {f"{n}.csv": t.encode() for n, t in FILES.items()}


@pytest.mark.parametrize(
    "entries, options, message",
    [
        (GOOD | {"../users.csv": b"x"}, {}, "points outside the zip's root"),
        (GOOD | {"/etc/users.csv": b"x"}, {}, "points outside the zip's root"),
        (GOOD | {"users.csv#again": FILES["users"].encode()}, {}, "users.csv occurs twice"),
        (GOOD | {"padding.bin": b"\0" * 3_000_000}, {"max_uncompressed_bytes": 2_000_000}, "more than options.max_uncompressed_bytes"),
    ],
    ids=["parent", "absolute", "duplicate", "bomb"],
)
def test_an_unsafe_zip_is_refused_before_extraction(tmp_path, sync, sqlite_url, entries, options, message):
    package = _zip(tmp_path / "drop.zip", entries)
    result = sync(csv_config(tmp_path, package, **options), sqlite_url)
    assert result["status"] == "failed", result
    assert result["error_class"] == "data"
    assert message in result["error"]


def test_a_malformed_demographics_row_rejects_its_student_instead_of_blanking_it(tmp_path, sync, sqlite_url):
    demographics = FILES["demographics"].replace("stu-1,,,2016-03-04,female,false", "stu-1,,,2016-03-04,female,false,extra")
    result = sync_package(tmp_path, sync, sqlite_url, "drop.zip", FILES | {"demographics": demographics})
    assert result["status"] == "success", result
    assert "demographics: demographics.csv line 2: 7 cells where the header has 6" in rejected(sqlite_url)["stu-1"]


def test_every_join_of_another_collection_is_declared_so_its_columns_can_be_kept():
    """PowerSchool and Qmlativ fill student columns from other collections too: absent, they are marked, not blanked."""
    import pandas as pd

    from sis_pipeline.providers.powerschool.normalize import PowerSchoolNormalizer
    from sis_pipeline.providers.skyward.normalize import QmlativNormalizer

    students = pd.DataFrame({"id": ["1", "2"], "StudentID": [1, 2], "NameID": [10, 20]})
    nothing = pd.DataFrame()
    powerschool = PowerSchoolNormalizer().not_delivered(
        "students", {"students": students, "student_changes": nothing}, {"students": "bulk", "student_changes": "bulk"}
    )
    assert powerschool.tolist() == ["source_updated_at"] * 2
    qmlativ = QmlativNormalizer().not_delivered(
        "students",
        {"students": students, "demographics": pd.DataFrame({"NameID": [10]}), "entryWithdrawals": nothing},
        {"students": "bulk", "demographics": "delta"},
    )
    assert qmlativ.tolist() == ["school_source_id", "birth_date,sex,school_source_id"]


def test_a_record_that_is_not_valid_unicode_is_marked_for_rejection_not_a_failed_extraction(tmp_path):
    import orjson

    from sis_pipeline.staging import RecordWriter

    writer = RecordWriter(tmp_path / "students.ndjson")
    writer.write([{"sourcedId": "ok", "givenName": "Ann"}, {"sourcedId": "bad", "givenName": "A\ud800n"}])
    writer.close()
    lines = [orjson.loads(line) for line in (tmp_path / "students.ndjson").read_bytes().splitlines()]
    assert "_input_error" not in lines[0]
    assert lines[1]["sourcedId"] == "bad" and "not valid Unicode" in lines[1]["_input_error"]
