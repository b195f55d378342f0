"""`options.extra_fields`: district-specific fields land in a JSON `extra` column without code changes."""


import yaml
from sis_pipeline_tests.helpers import FILES, extras, write_package



def test_oneroster_metadata_fields_fill_the_extra_column(district, write_config, sync, warehouse_url):
    speaker = district.district.students.sourced_id(5)
    section = district.district.classes.sourced_id(2)
    district.apply_changes([
        {"op": "update", "collection": "students", "sourcedId": speaker,
         "fields": {"metadata": {"homeLanguage": "es", "iep": "true"}}},
        {"op": "update", "collection": "classes", "sourcedId": section, "fields": {"metadata": {"room": "B-12"}}},
    ])
    config = write_config(district, options={"extra_fields": {
        "students": {"home_language": "metadata.homeLanguage", "has_iep": "metadata.iep"},
        "sections": {"room": "metadata.room"},
    }})
    result = sync(config, warehouse_url)
    assert result["status"] == "success", result
    students = extras(warehouse_url, "students")
    assert students[speaker] == {"has_iep": "true", "home_language": "es"}
    assert sum(value is not None for value in students.values()) == 1
    assert extras(warehouse_url, "sections")[section] == {"room": "B-12"}

    again = sync(config, warehouse_url)  # the JSON compares equal: nothing rewritten
    assert sum(c["updated"] + c["inserted"] for c in again["entities"].values()) == 0


def test_csv_metadata_columns_fill_the_extra_column(tmp_path, sync, sqlite_url):
    users = FILES["users"].replace("password\n", "password,metadata.lunchCode\n", 1)
    users = users.replace("05,\nstu-2", "05,,FREE\nstu-2", 1)
    package = write_package(tmp_path / "drop", {**FILES, "users": users}, dict.fromkeys(FILES, "bulk"), as_zip=False)
    config = tmp_path / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [{
        "name": "springfield", "provider": "oneroster_csv",
        "options": {"path": str(package), "extra_fields": {"students": {"lunch": "metadata.lunchCode"}}},
    }]}))
    assert sync(config, sqlite_url)["status"] == "success"
    assert extras(sqlite_url, "students")["stu-1"] == {"lunch": "FREE"}
