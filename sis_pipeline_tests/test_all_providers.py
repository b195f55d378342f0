"""One integrations.yaml with every kind of SIS, synced in one `sis-pipeline sync` into one PostgreSQL warehouse."""

import json
import os
import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from sis_simulators import District, SimulatorServer, SimulatorSettings
from sis_simulators.oneroster_csv import export_csv_package
from sis_simulators.powerschool import PowerSchoolSettings
from sis_simulators.qmlativ import QmlativSettings
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES
from sis_pipeline_tests.helpers import expected_totals as oneroster_totals
from sis_pipeline_tests.helpers import powerschool_totals, qmlativ_totals

STUDENTS = 180
CLI = str(Path(sys.executable).with_name("sis-pipeline"))


def secret() -> str:
    return f"secret-{uuid.uuid4().hex}"


def warehouse_counts_of(url: str, integration: str) -> dict[str, int]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        counts = {
            entity: conn.execute(select(func.count()).select_from(table).where(table.c.integration == integration)).scalar_one()
            for entity, table in ENTITY_TABLES.items()
        }
    engine.dispose()
    return counts


@pytest.fixture
def every_kind_of_sis(tmp_path):
    """Running simulators for PowerSchool, Infinite Campus, Skyward SMS and Qmlativ, and a CSV drop."""
    with ExitStack() as stack:
        start = lambda **kw: stack.enter_context(SimulatorServer(STUDENTS, **kw))  # noqa: E731
        sims = {
            "powerschool": start(kind="powerschool", settings=PowerSchoolSettings(client_id="ps", client_secret=secret())),
            "campus": start(settings=SimulatorSettings.infinite_campus(app_name="unified", client_id="ic", client_secret=secret())),
            "skyward_sms": start(settings=SimulatorSettings(path_prefix="/api", client_id="sms", client_secret=secret())),
            "skyward_qmlativ": start(kind="qmlativ", settings=QmlativSettings(client_id="qm", client_secret=secret())),
        }
        csv_district = District(STUDENTS, seed=99)
        package = export_csv_package(csv_district, tmp_path / "drop.zip", version="1.2").path
        yield sims, csv_district, package


def test_one_sync_loads_every_kind_of_sis_with_each_sources_totals(every_kind_of_sis, postgres_url, tmp_path):
    sims, csv_district, package = every_kind_of_sis
    env = {**os.environ, "SIS_WAREHOUSE_URL": postgres_url, "SIS_STAGING_DIR": str(tmp_path / "staging")}
    common = {"requests_per_minute": 100_000, "page_size": 200}
    entries = [{"name": "csv_drop", "provider": "oneroster_csv", "options": {"path": str(package)}}]
    options = {
        "powerschool": {"provider": "powerschool"},
        "campus": {"provider": "infinite_campus", "options": {"app_name": "unified"}},
        "skyward_sms": {"provider": "skyward", "options": {"api": "oneroster"}},
        "skyward_qmlativ": {"provider": "skyward", "options": {"api": "qmlativ"}},
    }
    for name, sim in sims.items():
        env[f"{name.upper()}_ID"], env[f"{name.upper()}_SECRET"] = sim.client_id, sim.client_secret
        entries.append({
            "name": name, "base_url": sim.base_url, **common, **options[name],
            "client_id_env": f"{name.upper()}_ID", "client_secret_env": f"{name.upper()}_SECRET",
        })
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": entries}))

    done = subprocess.run([CLI, "sync", "--config", str(config), "--json", "--quiet"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)["integrations"]

    csv_counts = {e: csv_district.collections[c].count() for e, c in {
        "schools": "schools", "courses": "courses", "sections": "classes", "students": "students",
        "teachers": "teachers", "enrollments": "enrollments"}.items()}
    csv_counts["terms"] = csv_district.collections["schoolYears"].count() + csv_district.collections["terms"].count()
    expected = {
        "csv_drop": csv_counts,
        "powerschool": powerschool_totals(sims["powerschool"]),
        "campus": oneroster_totals(sims["campus"]),
        "skyward_sms": oneroster_totals(sims["skyward_sms"]),
        "skyward_qmlativ": qmlativ_totals(sims["skyward_qmlativ"]),
    }
    for name, totals in expected.items():
        assert report[name]["status"] == "success", (name, report[name])
        assert {e: c["inserted"] for e, c in report[name]["entities"].items()} == totals, name
        assert warehouse_counts_of(postgres_url, name) == totals, name
        for sim in sims.values():
            assert sim.client_secret not in done.stdout + done.stderr

    # one golden record per child: as many profiles as distinct uids, and no integration holds a child twice
    engine = create_warehouse_engine(postgres_url)
    students, profiles = ENTITY_TABLES["students"], ENTITY_TABLES["students"].metadata.tables["student_profiles"]
    with engine.connect() as conn:
        uids = conn.execute(select(func.count(func.distinct(students.c.student_uid)))).scalar_one()
        assert conn.execute(select(func.count()).select_from(profiles)).scalar_one() == uids
        per_integration = conn.execute(
            select(students.c.integration, func.count(), func.count(func.distinct(students.c.student_uid))).group_by(students.c.integration)
        ).all()
    engine.dispose()
    assert {name: rows for name, rows, distinct in per_integration} == {name: distinct for name, rows, distinct in per_integration}
    assert {name for name, _, _ in per_integration} == set(expected)
