"""OneRoster CSV drops: bulk and delta files, 1.1 and 1.2 headers, and the dirt real packages carry."""


from sqlalchemy import select

from sis_simulators import District
from sis_simulators.oneroster_csv import Dirt, export_csv_package
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import FILES, USERS, csv_config, rejected, warehouse_counts, write_package


def test_a_dirty_bulk_package_loads_its_good_rows_and_rejects_the_rest_with_reasons(tmp_path, sync, warehouse_url):
    package = write_package(tmp_path / "drop.zip", FILES, dict.fromkeys(FILES, "bulk"), as_zip=True)
    result = sync(csv_config(tmp_path, package), warehouse_url)
    assert result["status"] == "success", result
    entities = result["entities"]
    assert {e: c["inserted"] for e, c in entities.items()} == {
        "schools": 2, "terms": 2, "courses": 1, "sections": 1, "students": 2, "teachers": 1, "enrollments": 2,
    }
    assert (entities["students"]["rejected"], entities["enrollments"]["rejected"]) == (1, 2)
    reasons = rejected(warehouse_url)
    assert set(reasons) == {"stu-3", "enr-2", "enr-3"}
    assert "last_name" in reasons["stu-3"]
    assert "begin_date" in reasons["enr-2"] and "1/05/2023" in reasons["enr-2"]
    assert "stu-99" in reasons["enr-3"]

    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        zoe = conn.execute(select(ENTITY_TABLES["students"]).where(ENTITY_TABLES["students"].c.source_id == "stu-1")).one()
        section = conn.execute(select(ENTITY_TABLES["sections"])).one()
        school = conn.execute(select(ENTITY_TABLES["schools"]).where(ENTITY_TABLES["schools"].c.source_id == "sch-2")).one()
    engine.dispose()
    assert (zoe.first_name, zoe.last_name, zoe.state_id, zoe.school_source_id) == ("Zoë", "O'Brien", "CA100", "sch-1")
    assert (zoe.grade_level, str(zoe.birth_date), zoe.status) == ("05", "2016-03-04", "active")
    assert (section.term_source_ids, section.periods) == ("trm-1,sy-1", "1,2")
    assert school.name == "Adams Middle School, Annex"


def test_delta_files_apply_only_their_rows_and_absent_files_touch_nothing(tmp_path, sync, sqlite_url):
    bulk = write_package(tmp_path / "bulk", FILES, dict.fromkeys(FILES, "bulk"), as_zip=False)
    sync(csv_config(tmp_path, bulk), sqlite_url)
    before = warehouse_counts(sqlite_url, active_only=True)

    delta_users = (
        USERS.splitlines()[0] + "\n"
        + "stu-1,active,2026-11-20T10:00:00.000Z,true,sch-1,student,zoe,{stateId:CA100},Zoey,O'Brien,,1001,,,,,06,\n"
        + "stu-2,tobedeleted,2026-11-20T10:00:00.000Z,true,sch-1,student,ana,{stateId:CA101},Ana,Smith-Jones,,1002,,,,,KG,\n"
        + "stu-4,,2026-11-20T10:00:00.000Z,true,sch-1,student,new,,Cy,Lee,,1004,,,,,05,\n"
    )
    delta = write_package(tmp_path / "delta", {"users": delta_users}, {"users": "delta"}, as_zip=False)
    (tmp_path / "integrations.yaml").unlink()
    # two active students: one is half the table, beyond the default hold limits (test_holds.py)
    result = sync(csv_config(tmp_path, delta, fields={"safety": {"max_archive_fraction": 1, "max_change_fraction": 1}}), sqlite_url)
    assert result["status"] == "success", result
    assert set(result["entities"]) == {"students", "teachers"}
    students = result["entities"]["students"]
    assert (students["updated"], students["archived"], students["rejected"], students["inserted"]) == (2, 1, 1, 0)
    assert "status" in rejected(sqlite_url)["stu-4"]  # a delta row must say what happened to it
    after = warehouse_counts(sqlite_url, active_only=True)
    assert after == before | {"students": before["students"] - 1}
    # teachers were absent from the delta rows: a delta never archives by absence
    assert result["entities"]["teachers"]["archived"] == 0


def test_a_generated_dirty_package_loads_exactly_the_rows_it_should(tmp_path, sync, warehouse_url, caplog):
    district = District(300, seed=11)
    dirt = Dirt(
        bom=True, crlf=True, header_case=True, header_whitespace=True, header_misspelled=True,
        duplicate_rows=3, us_dates=3, orphan_enrollments=3,
    )
    info = export_csv_package(district, tmp_path / "drop.zip", version="1.2", dirt=dirt)
    result = sync(csv_config(tmp_path, info.path), warehouse_url)
    assert result["status"] == "success", result

    bad_birth_dates = set(info.dirt["us_dates"].rows["demographics.csv"])
    bad_enrollments = set(info.dirt["us_dates"].rows["enrollments.csv"]) | set(info.dirt["orphan_enrollments"].rows["enrollments.csv"])
    assert set(rejected(warehouse_url)) == bad_birth_dates | bad_enrollments
    counts = {entity: district.collections[entity].count() for entity in ("students", "teachers", "enrollments")}
    entities = result["entities"]
    assert entities["students"]["inserted"] == counts["students"] - len(bad_birth_dates)
    assert entities["teachers"]["inserted"] == counts["teachers"]
    assert entities["enrollments"]["inserted"] == counts["enrollments"] - len(bad_enrollments)
    # misspelt and mis-cased headers are read as the headers they mean, and said so
    assert "'userSorucedId' read as 'userSourcedId'" in caplog.text
