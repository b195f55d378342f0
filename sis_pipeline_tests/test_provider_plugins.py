"""Providers plug in through the `sis_pipeline.providers` entry-point group, built-ins included."""

import json
from importlib.metadata import entry_points

import yaml

from sis_pipeline.providers.common.registry import ENTRY_POINT_GROUP, provider_class, provider_names
from sis_simulators import District
from sis_simulators.district import VIEWS
from sis_pipeline_tests.helpers import warehouse_counts

JSON_COLLECTIONS = ("schools", "academicSessions", "courses", "classes", "students", "teachers", "enrollments", "demographics")


def test_builtins_register_through_the_same_entry_points():
    registered = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"oneroster", "oneroster_csv"} <= registered
    assert provider_class("oneroster").kind == "oneroster"


def test_a_provider_from_another_package_is_used_by_name_alone(tmp_path, sync, sqlite_url):
    assert "example_json_drop" in provider_names(), "the test command installs sis_pipeline_tests/plugins/example_provider"
    district = District(120, seed=7)
    folder = tmp_path / "drop"
    folder.mkdir()
    expected = {}
    for collection in JSON_COLLECTIONS:
        records = [
            source.record(i, "1.1")
            for part in VIEWS[collection]
            for source in [district.collections[part]]
            for i in range(source.count())
        ]
        (folder / f"{collection}.json").write_text(json.dumps(records))
        expected[collection] = len(records)
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [
        {"name": "springfield", "provider": "example_json_drop", "options": {"folder": str(folder)}},
    ]}))
    result = sync(config, sqlite_url)
    assert result["status"] == "success", result
    assert warehouse_counts(sqlite_url) == {
        "schools": expected["schools"], "terms": expected["academicSessions"], "courses": expected["courses"],
        "sections": expected["classes"], "students": expected["students"], "teachers": expected["teachers"],
        "enrollments": expected["enrollments"],
    }
