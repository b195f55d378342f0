"""One child, one student_uid: re-keys, a district moving SIS, and near-duplicates that a person decides."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import func, select

from sis_pipeline.warehouse.schema import ENTITY_TABLES, identity_reviews, student_mappings
from sis_pipeline_tests.helpers import query_rows, served

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
STUDENTS = ENTITY_TABLES["students"]


def uid_of(url: str, source_id: str, integration: str = "springfield") -> str:
    return query_rows(url, select(STUDENTS.c.student_uid).where(STUDENTS.c.source_id == source_id, STUDENTS.c.integration == integration))[0]["student_uid"]


def rekey(district, index: int, new_id: str) -> None:
    """The SIS gives a child a new sourcedId and keeps no legacy id: same state id, same record otherwise."""
    old_id = district.district.students.sourced_id(index)
    record = {key: value for key, value in served(district, "students", old_id).items() if key not in ("dateLastModified",)}
    district.apply_changes([
        {"op": "remove", "collection": "students", "sourcedId": old_id},
        {"op": "add", "collection": "students", "record": {**record, "sourcedId": new_id}},
    ])


def test_a_rekeyed_student_with_the_same_state_id_keeps_the_uid(district, write_config, sync, warehouse_url):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    old_id = district.district.students.sourced_id(20)
    uid = uid_of(warehouse_url, old_id)

    rekey(district, 20, "rekeyed-20")
    run = sync(config, warehouse_url)
    assert run["status"] == "success", run
    assert run["entities"]["students"]["inserted"] == 1 and run["entities"]["students"]["archived"] == 1
    assert uid_of(warehouse_url, "rekeyed-20") == uid
    active = query_rows(warehouse_url, select(func.count()).select_from(STUDENTS).where(STUDENTS.c.student_uid == uid, STUDENTS.c.archived_at.is_(None)))
    assert active[0]["count_1"] == 1  # one active row for the child, not two

    links = {r["source_id"]: r for r in query_rows(warehouse_url, select(student_mappings).where(student_mappings.c.student_uid == uid))}
    assert links["rekeyed-20"]["rule"] == "state_id" and links["rekeyed-20"]["confidence"] == 0.95
    assert links[old_id]["valid_to"] is not None and links["rekeyed-20"]["valid_to"] is None  # history kept


def test_a_district_moving_sis_keeps_one_uid_per_child_across_integrations(district, write_config, sync, warehouse_url, tmp_path):
    config = write_config(district)
    both = yaml.safe_load(config.read_text())
    both["integrations"].append({**both["integrations"][0], "name": "springfield_new"})
    config.write_text(yaml.safe_dump(both))
    assert sync(config, warehouse_url)["status"] == "success"
    assert sync(config, warehouse_url, name="springfield_new")["status"] == "success"

    per_integration = query_rows(warehouse_url, select(STUDENTS.c.integration, func.count(func.distinct(STUDENTS.c.student_uid)).label("uids")).group_by(STUDENTS.c.integration))
    children = district.totals()["students"]
    assert {r["integration"]: r["uids"] for r in per_integration} == {"springfield": children, "springfield_new": children}
    distinct = query_rows(warehouse_url, select(func.count(func.distinct(STUDENTS.c.student_uid)).label("uids")))
    assert distinct[0]["uids"] == children  # the same children, not twice as many
    rules = query_rows(warehouse_url, select(student_mappings.c.rule, func.count().label("n")).where(student_mappings.c.integration == "springfield_new").group_by(student_mappings.c.rule))
    assert {r["rule"]: r["n"] for r in rules} == {"state_id": children}


def test_same_name_and_birth_date_goes_to_review_and_a_person_links_or_splits(district, write_config, sync, warehouse_url, tmp_path):
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    twin_of = district.district.students.sourced_id(30)
    original = served(district, "students", twin_of)
    born = served(district, "demographics", twin_of)["birthDate"]
    record = {key: value for key, value in original.items() if key not in ("sourcedId", "dateLastModified", "userIds", "identifier", "username", "email")}
    district.apply_changes([
        {"op": "add", "collection": "students", "record": {**record, "sourcedId": "maybe-twin", "identifier": "99999999",
                                                         "userIds": [{"type": "stateId", "identifier": "X-NOT-THE-SAME"}]}},
        {"op": "add", "collection": "demographics", "record": {"sourcedId": "maybe-twin", "birthDate": born}},
    ])
    run = sync(config, warehouse_url)
    assert run["status"] == "success", run
    candidate = uid_of(warehouse_url, twin_of)
    assert uid_of(warehouse_url, "maybe-twin") != candidate  # never merged automatically
    reviews = query_rows(warehouse_url, select(identity_reviews))
    assert [(r["source_id"], r["candidate_uid"], r["decision"]) for r in reviews] == [("maybe-twin", candidate, None)]
    assert sync(config, warehouse_url)["status"] == "success"
    assert len(query_rows(warehouse_url, select(identity_reviews))) == 1  # asked once, not every night

    env = {**os.environ, "SIS_WAREHOUSE_URL": warehouse_url}
    listed = subprocess.run([CLI, "identities", "review", "--json"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    review_id = json.loads(listed.stdout)["reviews"][0]["id"]
    assert original["givenName"] not in listed.stdout  # ids only
    linked = subprocess.run([CLI, "identities", "link", str(review_id), "--by", "registrar"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert linked.returncode == 0, linked.stderr
    assert uid_of(warehouse_url, "maybe-twin") == candidate
    decided = query_rows(warehouse_url, select(identity_reviews))[0]
    assert decided["decision"] == "linked" and decided["decided_by"] == "registrar"
    again = subprocess.run([CLI, "identities", "split", str(review_id), "--by", "registrar"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 1 and "no open identity review" in again.stderr
    # the next sync keeps the person's decision: the record's link now names the candidate
    assert sync(config, warehouse_url)["status"] == "success"
    assert uid_of(warehouse_url, "maybe-twin") == candidate


def test_one_golden_record_per_child_from_the_integration_with_the_highest_priority(district, write_config, sync, warehouse_url):
    from sis_pipeline.warehouse.schema import student_profiles

    config = write_config(district)
    both = yaml.safe_load(config.read_text())
    both["integrations"][0]["priority"] = 10
    both["integrations"].append({**both["integrations"][0], "name": "springfield_new", "priority": 1})
    config.write_text(yaml.safe_dump(both))
    assert sync(config, warehouse_url)["status"] == "success"
    children = district.totals()["students"]
    profiles = query_rows(warehouse_url, select(student_profiles))
    assert len(profiles) == children and {p["integration"] for p in profiles} == {"springfield"}

    assert sync(config, warehouse_url, name="springfield_new")["status"] == "success"
    profiles = query_rows(warehouse_url, select(student_profiles))
    assert len(profiles) == children  # one row per child, not per source row
    assert {p["integration"] for p in profiles} == {"springfield_new"} and {p["sources"] for p in profiles} == {2}

    # an unchanged re-sync rewrites no profile
    stamps = {p["student_uid"]: p["updated_at"] for p in profiles}
    assert sync(config, warehouse_url)["status"] == "success"
    assert {p["student_uid"]: p["updated_at"] for p in query_rows(warehouse_url, select(student_profiles))} == stamps


def test_a_rekeyed_teacher_with_the_same_staff_number_keeps_the_teacher_uid(district, write_config, sync, warehouse_url):
    from sis_pipeline.warehouse.schema import teacher_mappings

    teachers = ENTITY_TABLES["teachers"]
    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    old_id = district.district.teachers.sourced_id(3)
    uid = query_rows(warehouse_url, select(teachers.c.teacher_uid).where(teachers.c.source_id == old_id))[0]["teacher_uid"]
    all_uids = query_rows(warehouse_url, select(func.count(func.distinct(teachers.c.teacher_uid)).label("n")))[0]["n"]
    assert all_uids == district.totals()["teachers"]  # one uid per teacher

    record = {key: value for key, value in served(district, "teachers", old_id).items() if key != "dateLastModified"}
    district.apply_changes([
        {"op": "remove", "collection": "teachers", "sourcedId": old_id},
        {"op": "add", "collection": "teachers", "record": {**record, "sourcedId": "rekeyed-teacher"}},
    ])
    run = sync(config, warehouse_url)
    assert run["status"] == "success", run
    assert query_rows(warehouse_url, select(teachers.c.teacher_uid).where(teachers.c.source_id == "rekeyed-teacher"))[0]["teacher_uid"] == uid
    links = {r["source_id"]: r for r in query_rows(warehouse_url, select(teacher_mappings).where(teacher_mappings.c.teacher_uid == uid))}
    assert links["rekeyed-teacher"]["rule"] == "staff_number" and links[old_id]["valid_to"] is not None


def test_a_small_delivery_is_matched_by_keyed_lookups_with_the_same_result_as_against_every_row(
    district, write_config, sync, warehouse_url
):
    import pandas as pd

    from sis_pipeline.resolve.identity import resolve_identities
    from sis_pipeline.warehouse.engine import create_warehouse_engine
    from sis_pipeline.warehouse.student_mappings import read_identity_index

    config = write_config(district)
    assert sync(config, warehouse_url)["status"] == "success"
    held = pd.DataFrame(query_rows(warehouse_url, select(STUDENTS)))
    delivery = held.head(40).assign(birth_date=lambda f: f["birth_date"].map(lambda d: None if d is None else str(d)[:10]))
    delivery = delivery.drop(columns=["student_uid"])
    # a re-keyed child (same state id, new id), another's near-twin (same name and birth date), a stranger
    twin = delivery.iloc[1].copy()
    twin[["source_id", "state_id", "student_number"]] = ["near-twin", "NO-SUCH-STATE-ID", "NO-SUCH-NUMBER"]
    rekeyed = delivery.iloc[2].copy()
    rekeyed["source_id"] = "rekeyed"
    delivery = pd.concat([delivery.iloc[3:], pd.DataFrame([twin, rekeyed])], ignore_index=True)

    engine = create_warehouse_engine(warehouse_url)
    try:
        targeted = read_identity_index(engine, "springfield", delivery)
        whole = read_identity_index(engine, "springfield")
    finally:
        engine.dispose()
    assert len(targeted.people) < len(whole.people) / 4  # only what could match was read
    by_keys, reviews_by_keys = resolve_identities(delivery, targeted, "springfield")
    by_all, reviews_by_all = resolve_identities(delivery, whole, "springfield")
    known = by_all["identity_rule"] != "new"  # minted uids are random: compare the matched ones and the rules
    assert by_keys["identity_rule"].tolist() == by_all["identity_rule"].tolist()
    assert by_keys.loc[known, "student_uid"].tolist() == by_all.loc[known, "student_uid"].tolist()
    assert set(by_all["identity_rule"]) >= {"source_id", "state_id", "new"}
    assert reviews_by_keys[["source_id", "candidate_uid"]].values.tolist() == reviews_by_all[["source_id", "candidate_uid"]].values.tolist()
    assert reviews_by_all["source_id"].tolist() == ["near-twin"]
