"""Infinite Campus: Campus URLs and app-scoped tokens, and the 1.1 -> 1.2 upgrade that re-keys every person."""

import uuid

import pytest
import yaml
from sqlalchemy import func, select

from sis_simulators import SimulatorServer, SimulatorSettings
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, student_mappings, student_profiles
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts

students = ENTITY_TABLES["students"]


@pytest.fixture(scope="module")
def campus():
    settings = SimulatorSettings.infinite_campus(
        app_name="springfield", client_id="campus-client", client_secret=f"secret-{uuid.uuid4().hex}"
    )
    with SimulatorServer(students=300, settings=settings) as sim:
        yield sim


def campus_config(tmp_path, monkeypatch, sim, *, version: str, app_name: str = "springfield", **fields):
    monkeypatch.setenv("CAMPUS_ID", sim.client_id)
    monkeypatch.setenv("CAMPUS_SECRET", sim.client_secret)
    path = tmp_path / f"integrations-{version}.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{
        "name": "springfield", "provider": "infinite_campus", "base_url": sim.base_url,
        "client_id_env": "CAMPUS_ID", "client_secret_env": "CAMPUS_SECRET",
        "options": {"app_name": app_name, "version": version}, "page_size": 100,
        "requests_per_minute": 6000,  # Campus's default of 100/min would make this test wait on the limiter
        **fields,
    }]}))
    return path


def student_identities(url: str, *, active_only: bool) -> dict[str, str]:
    engine = create_warehouse_engine(url)
    query = select(students.c.source_id, students.c.student_uid)
    if active_only:
        query = query.where(students.c.archived_at.is_(None))
    with engine.connect() as conn:
        rows = dict(conn.execute(query).all())
    engine.dispose()
    return rows


def test_upgrade_from_1_1_to_1_2_relinks_every_student_to_the_same_uid(campus, tmp_path, monkeypatch, sync, warehouse_url):
    first = sync(campus_config(tmp_path, monkeypatch, campus, version="1.1"), warehouse_url)
    assert first["status"] == "success", first
    assert warehouse_counts(warehouse_url) == expected_totals(campus)
    before = student_identities(warehouse_url, active_only=True)
    assert all(source_id.startswith("s+") for source_id in before)  # Campus 1.1 ids carry role prefixes

    # The upgrade re-keys every person: it archives every old id and rewrites every enrollment. A district
    # expecting it lifts the hold limits for that night (or approves the held run; test_holds.py)
    upgrade_night = {"safety": {"max_archive_fraction": 1, "max_change_fraction": 1}}
    upgraded = sync(campus_config(tmp_path, monkeypatch, campus, version="1.2", **upgrade_night), warehouse_url)
    assert upgraded["status"] == "success", upgraded
    count = campus.totals()["students"]
    assert (upgraded["entities"]["students"]["inserted"], upgraded["entities"]["students"]["archived"]) == (count, count)
    after = student_identities(warehouse_url, active_only=True)
    assert not any(source_id.startswith("s+") for source_id in after)
    # zero duplicate children: the new ids carry exactly the uids the old ids had
    assert sorted(after.values()) == sorted(before.values())
    everything = student_identities(warehouse_url, active_only=False)
    assert len(set(everything.values())) == count

    engine = create_warehouse_engine(warehouse_url)
    with engine.connect() as conn:
        rules = dict(conn.execute(
            select(student_mappings.c.rule, func.count()).where(student_mappings.c.id_type == "source_id")
            .group_by(student_mappings.c.rule)
        ).all())
    engine.dispose()
    assert rules == {"new": count, "legacy_source_id": count}
    with engine.connect() as conn:  # one golden record per child, from the active 1.2 rows
        profiles = conn.execute(select(student_profiles.c.source_id, student_profiles.c.active)).all()
    engine.dispose()
    assert len(profiles) == count and all(active and not source_id.startswith("s+") for source_id, active in profiles)

    again = sync(campus_config(tmp_path, monkeypatch, campus, version="1.2"), warehouse_url)
    assert sum(c["inserted"] + c["updated"] for c in again["entities"].values()) == 0


def test_a_wrong_application_name_is_refused_as_an_auth_error(campus, tmp_path, monkeypatch, sync, sqlite_url):
    result = sync(campus_config(tmp_path, monkeypatch, campus, version="1.2", app_name="elsewhere"), sqlite_url)
    assert result["status"] == "failed" and result["error_class"] == "auth"


def test_campus_roots_follow_the_version():
    from sis_pipeline.config import IntegrationConfig
    from sis_pipeline.providers.infinite_campus import InfiniteCampusProvider

    integration = IntegrationConfig(
        name="x", provider="infinite_campus", base_url="https://campus.example.org", options={"app_name": "my app"}
    )
    endpoint = InfiniteCampusProvider.endpoint(integration)
    assert endpoint.service_root == "https://campus.example.org/campus/api/oneroster/v1p2/my%20app/ims/oneroster/rostering/v1p2"
    assert endpoint.token_url == "https://campus.example.org/campus/oauth2/token?appName=my%20app"
    assert endpoint.credentials_in == "form"
