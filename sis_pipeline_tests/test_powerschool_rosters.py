"""PowerSchool section enrollments read from the cc table in large pages or, refused, once per section.

Both ways must load the same enrollments, row for row; the cc way must cost about one request per
page of enrollments instead of two per section (each roster's /count and its page).
"""

import logging
import math
import uuid

import pytest
from sqlalchemy import select

from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import created_database, powerschool_totals, warehouse_counts
from sis_pipeline_tests.test_powerschool_provider import ps_config, settings
from sis_simulators import SimulatorServer

SCHEMA_PAGE = 500  # PowerSchool's schema-table pages are larger than /ws/v1's 100
ROSTER = "/ws/v1/section/{id}/section_enrollment"
SCHEMA = "/ws/schema/table/{table}"
# when the row was loaded, not what it says
LOAD_TIMES = {"first_seen_at", "updated_at"}


@pytest.fixture(scope="module")
def district():
    """A district with dropped enrollments (a withdrawal) and a student re-entered under a new DCID."""
    with SimulatorServer(students=260, kind="powerschool", settings=settings(schema_table_query_max_page_size=SCHEMA_PAGE)) as sim:
        sim.apply_changes([
            {"op": "withdraw", "id": 1_000_022, "exit_date": "2026-11-02"},
            {"op": "reid", "id": 1_000_031, "new_id": 1_900_031},
        ])
        yield sim


@pytest.fixture
def other_warehouse(warehouse_url, tmp_path, request):
    """A second empty warehouse on the same backend as `warehouse_url`."""
    if warehouse_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'other.sqlite'}"
        return
    with created_database(request.getfixturevalue("postgres_server_url"), f"sis_test_{uuid.uuid4().hex[:12]}") as url:
        yield url


def enrollment_rows(url: str) -> list[tuple]:
    table = ENTITY_TABLES["enrollments"]
    columns = [c for c in table.columns if c.name not in LOAD_TIMES]
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(table.c.source_id)).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def synced(sync, config, url, sim, caplog) -> tuple[dict, dict, list[str]]:
    """The sync's result, the requests it made by path template, and what it logged about rosters."""
    before = sim.stats()["requests"]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="sis_pipeline.providers.powerschool"):
        result = sync(config, url)
    after = sim.stats()["requests"]
    made = {path: after[path] - before.get(path, 0) for path in after if after[path] != before.get(path, 0)}
    said = [r.getMessage() for r in caplog.records if "section_enrollments:" in r.getMessage()]
    return result, made, said


def test_cc_table_and_per_section_rosters_load_the_same_enrollments(
    district, tmp_path, monkeypatch, sync, warehouse_url, other_warehouse, caplog
):
    config = ps_config(tmp_path, monkeypatch, district)
    totals = district.totals()
    sections, enrolled = totals["sections"], totals["section_enrollments"]

    bulk, bulk_requests, bulk_said = synced(sync, config, warehouse_url, district, caplog)
    district.update_settings(schema_table_access=False)
    try:
        per_section, per_section_requests, per_section_said = synced(sync, config, other_warehouse, district, caplog)
    finally:
        district.update_settings(schema_table_access=True)

    assert bulk["status"] == per_section["status"] == "success", (bulk, per_section)
    for url in (warehouse_url, other_warehouse):
        assert warehouse_counts(url)["enrollments"] == powerschool_totals(district)["enrollments"]
    rows = enrollment_rows(warehouse_url)
    assert rows == enrollment_rows(other_warehouse)
    by_user = {}
    for row in rows:
        by_user.setdefault(row[5], []).append(row)
    # the withdrawal's six dropped enrollments end by its exit date (a later class on its first day); the
    # re-entered student's follow the new DCID
    dropped = by_user["1000022"]
    assert len(dropped) == 6 and all(str(row[10]) <= max(str(row[9]), "2026-11-02") for row in dropped)
    assert len(by_user["1900031"]) == 6 and "1000031" not in by_user

    # One line each, saying which way and why
    assert len(bulk_said) == 1 and "cc table" in bulk_said[0], bulk_said
    assert len(per_section_said) == 1 and "one roster request per section" in per_section_said[0]
    assert "HTTP 403" in per_section_said[0], per_section_said

    # Refused: each section's /count and its one page. The cc way: none of those, but cc, students and
    # sections (its ids translated) each as a /count and pages of SCHEMA_PAGE, plus student_changes' pages.
    assert per_section_requests[ROSTER] + per_section_requests[f"{ROSTER}/count"] == 2 * sections
    assert ROSTER not in bulk_requests and f"{ROSTER}/count" not in bulk_requests
    pages = math.ceil(enrolled / SCHEMA_PAGE) + math.ceil(sections / SCHEMA_PAGE) + 2 * math.ceil(totals["students"] / SCHEMA_PAGE)
    assert bulk_requests[SCHEMA] == pages
    assert bulk_requests[f"{SCHEMA}/count"] == 4  # student_changes, cc, students, sections
    # everything else is the same: the refused run's two 403s (student_changes, cc) against these
    assert sum(bulk_requests.values()) == sum(per_section_requests.values()) - 2 * sections - 2 + 4 + pages
