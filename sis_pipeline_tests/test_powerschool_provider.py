"""PowerSchool against its simulator: every record once, whatever quirks the answers carry."""

import logging
import uuid

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from sis_pipeline.config import load_config
from sis_pipeline.normalize.values import local_timestamp
from sis_pipeline.providers.powerschool import PowerSchoolProvider
from sis_pipeline.providers.powerschool.quirks import clean
from sis_simulators import SimulatorServer
from sis_simulators.powerschool import PowerSchoolSettings
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import powerschool_totals, warehouse_counts


def settings(**quirks) -> PowerSchoolSettings:
    return PowerSchoolSettings(client_id="ps-plugin", client_secret=f"ps-{uuid.uuid4().hex}", **quirks)


@pytest.fixture(scope="module")
def powerschool():
    with SimulatorServer(students=260, kind="powerschool", settings=settings()) as sim:
        yield sim


def ps_config(tmp_path, monkeypatch, sim, **fields):
    monkeypatch.setenv("PS_ID", sim.client_id)
    monkeypatch.setenv("PS_SECRET", sim.client_secret)
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{
        "name": "springfield", "provider": "powerschool", "base_url": sim.base_url,
        "client_id_env": "PS_ID", "client_secret_env": "PS_SECRET", "timezone": "America/Chicago",
        "requests_per_minute": 100_000, "max_concurrency": 4, **fields,
    }]}))
    return path


def test_full_sync_loads_every_record_once_and_a_resync_writes_nothing(powerschool, tmp_path, monkeypatch, sync, warehouse_url):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    first = sync(config, warehouse_url)
    assert first["status"] == "success", first
    assert warehouse_counts(warehouse_url) == powerschool_totals(powerschool)
    assert all(c["rejected"] == 0 for c in first["entities"].values())
    second = sync(config, warehouse_url)
    assert sum(c["inserted"] + c["updated"] for c in second["entities"].values()) == 0


def test_student_fields_quirks_undone_and_local_times_made_utc(powerschool, tmp_path, monkeypatch, sync, sqlite_url):
    config = ps_config(tmp_path, monkeypatch, powerschool, options={
        "extensions": "u_studentsuserfields",
        "extra_fields": {"students": {"language": "extensions.u_studentsuserfields.preferred_language"}},
    })
    assert sync(config, sqlite_url)["status"] == "success"
    engine = create_warehouse_engine(sqlite_url)
    with engine.connect() as conn:
        rows = {r.source_id: r for r in conn.execute(select(ENTITY_TABLES["students"]))}
    engine.dispose()
    first = rows["1000001"]  # DCIDs are the source ids; the student number is kept beside them
    assert first.student_number == "10000000" and first.enrollment_status == "active"
    assert first.grade_level in {"PK", "KG", *(f"{n:02d}" for n in range(1, 13))}
    assert '"language"' in first.extra
    assert "1000007" in rows  # an id sent as a string in one record and an int in the next is the same kind of key
    assert all(row.source_updated_at is not None for row in rows.values())


def test_provider_total_matches_count_at_every_page_size(powerschool, tmp_path, monkeypatch):
    for page_size in (7, 100, 1000):
        provider = PowerSchoolProvider(load_config(ps_config(tmp_path, monkeypatch, powerschool, page_size=page_size)).integration("springfield"))
        try:
            ids = [r["id"] for page in provider.iter_pages("students") for r in page]
        finally:
            provider.close()
        assert len(ids) == len(set(ids)) == powerschool.totals()["students"]  # not only the last page


def test_one_school_one_student_district_with_every_list_a_bare_object(tmp_path, monkeypatch, sync, sqlite_url):
    with SimulatorServer(students=1, kind="powerschool", settings=settings()) as tiny:
        result = sync(ps_config(tmp_path, monkeypatch, tiny), sqlite_url)
        assert result["status"] == "success", result
        assert warehouse_counts(sqlite_url) == powerschool_totals(tiny)
        assert warehouse_counts(sqlite_url)["students"] == 1


def test_clean_undoes_the_quirks_at_any_depth():
    raw = {
        "id": 7, "local_id": "12", "demographics": "", "name": {"first_name": "Ana"},
        "school_affiliations": {"school_affiliation": {"school_id": 3, "type": 1}},
        "_extension_data": {"_table_extension": {"name": "u_x", "_field": {"name": "lang", "value": "es"}}},
    }
    assert clean(raw) == {
        "id": "7", "local_id": "12", "name": {"first_name": "Ana"},
        "school_affiliations": {"school_affiliation": [{"school_id": "3", "type": 1}]},
        "extensions": {"u_x": {"lang": "es"}},
    }


def test_naive_local_times_round_trip_across_dst():
    wall = pd.Series(["2026-03-08 01:59:00", "2026-03-08 03:00:00", "2026-11-01 00:30:00", "2026-11-01 02:30:00"])
    utc = local_timestamp(wall, "America/Chicago")
    assert [t.strftime("%H:%M") for t in utc] == ["07:59", "08:00", "05:30", "08:30"]
    back = utc.dt.tz_convert("America/Chicago").dt.strftime("%Y-%m-%d %H:%M:%S")
    assert back.tolist() == wall.tolist()


def student_modification_times(url: str) -> dict:
    engine = create_warehouse_engine(url)
    table = ENTITY_TABLES["students"]
    with engine.connect() as conn:
        times = dict(conn.execute(select(table.c.source_id, table.c.source_updated_at)).all())
    engine.dispose()
    return times


@pytest.fixture
def schema_tables_refused(powerschool):
    powerschool.update_settings(schema_table_access=False)
    yield powerschool
    powerschool.update_settings(schema_table_access=True)


def test_schema_tables_refused_cost_one_warning_and_keep_the_modification_times(
    powerschool, tmp_path, monkeypatch, sync, postgres_url, caplog
):
    config = ps_config(tmp_path, monkeypatch, powerschool)
    first = sync(config, postgres_url)
    assert first["status"] == "success" and first["api"]["enrichments_skipped"] == 0
    before = student_modification_times(postgres_url)
    assert None not in before.values()

    powerschool.update_settings(schema_table_access=False)
    try:
        with caplog.at_level(logging.WARNING):
            second = sync(config, postgres_url)
    finally:
        powerschool.update_settings(schema_table_access=True)
    assert second["status"] == "success", second
    assert second["api"]["enrichments_skipped"] == 1
    assert warehouse_counts(postgres_url) == powerschool_totals(powerschool)
    # not knowing when students changed is no change: nothing rewritten, the old times kept
    assert sum(c["inserted"] + c["updated"] for c in second["entities"].values()) == 0
    assert student_modification_times(postgres_url) == before
    skipped = [r.getMessage() for r in caplog.records if "optional enrichment" in r.getMessage()]
    assert len(skipped) == 1 and "student_changes" in skipped[0] and "HTTP 403" in skipped[0]


def test_a_first_sync_without_schema_tables_loads_every_student_without_a_modification_time(
    schema_tables_refused, tmp_path, monkeypatch, sync, sqlite_url
):
    result = sync(ps_config(tmp_path, monkeypatch, schema_tables_refused), sqlite_url)
    assert result["status"] == "success", result
    assert result["api"]["enrichments_skipped"] == 1
    assert warehouse_counts(sqlite_url) == powerschool_totals(schema_tables_refused)
    assert set(student_modification_times(sqlite_url).values()) == {None}


def test_every_school_keeps_its_own_terms_and_every_section_finds_its_term(tmp_path, monkeypatch, sync, sqlite_url):
    # Term ids repeat in every school (3600 is each school's year); a district of several schools once
    # kept only the first school's terms, and every other school's sections named no known term.
    with SimulatorServer(students=2000, kind="powerschool", settings=settings()) as sim:
        run = sync(ps_config(tmp_path, monkeypatch, sim), sqlite_url)
        totals = powerschool_totals(sim)
    assert run["status"] == "success", run  # the blocking checks passed: every section's term exists
    assert totals["schools"] > 1 and warehouse_counts(sqlite_url)["terms"] == totals["terms"]
