"""Normalising in chunks gives exactly what normalising whole collections gives: rows, order, reasons, counts.

The district is dirty on purpose, and the chunks tiny, so every cross-record rule meets a chunk boundary:
copies and conflicting versions of one id in different chunks, missing ids in several chunks, orphans,
a related collection (demographics) joined into every chunk, and a collection the Arrow reader refuses.
"""

from datetime import date

import orjson
import pandas as pd
import pytest

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.chunks import chunk_records, iter_records
from sis_pipeline.normalize.stage import normalize_integration
from sis_pipeline.providers.oneroster.normalize import SCHEMAS, OneRosterNormalizer
from sis_pipeline.staging import read_frame

INTEGRATION = IntegrationConfig(
    name="springfield", provider="oneroster", base_url="https://sis.example.org/ims/oneroster/v1p1",
    token_url="https://sis.example.org/token", client_id_env="A", client_secret_env="B",
    options={"extra_fields": {"students": {"home": "metadata.home", "number": "metadata.number"}}},
)
TODAY = date(2026, 9, 15)
STAMP = "2026-09-01T12:00:00Z"


def person(i: int, **fields) -> dict:
    return {
        "sourcedId": f"s{i}", "status": "active", "dateLastModified": STAMP, "enabledUser": True,
        "givenName": f"Kid{i}", "familyName": "Doe", "role": "student", "orgs": [{"sourcedId": "sch-1"}],
        "grades": ["05"], "metadata": {"home": f"h{i}"},
    } | fields


def dirty_district() -> dict[str, list[dict]]:
    students = [person(i) for i in range(12)]
    students[3]["enabledUser"] = "maybe"  # unreadable boolean: dropped with a warning, the record kept
    students.append(person(1))  # an identical copy, chunks away from the first
    students.append(person(2, givenName="Other"))  # a conflicting version of s2
    students.append(person(5, dateLastModified="2026-09-02T12:00:00Z", familyName="Later"))  # newer version of s5
    students.append(person(2, givenName="Third"))  # and a third version of s2, in yet another chunk
    students.append(person(90, sourcedId=None))  # missing ids in two chunks: each rejected alone
    students.append(person(91, sourcedId="  "))
    students.append(person(7, familyName=" "))  # s7 again, this time invalid: s7 conflicts, both rejected
    students.append(person(20, familyName="Nul\x00l"))  # rejected, yet enrollments naming it are no orphans
    students.append(person(21, _input_error="a CSV row of the wrong width"))
    students.append(person(1))  # a third identical copy of s1
    students[4]["metadata"]["number"] = 7  # pandas types this float when read whole in Python (others lack it) ...
    students.append(person(30, sourcedId=30))  # ... which a numeric id forces: Arrow refuses the whole collection
    demographics = [
        {"sourcedId": f"s{i}", "status": "active", "birthDate": "2015-03-04", "sex": "Female"} for i in range(0, 12, 2)
    ] + [
        {"sourcedId": "s9", "status": "active", "birthDate": "2027-01-01", "sex": "male"},  # after the run's date
        {"sourcedId": "s11", "status": "active", "_input_error": "unreadable demographics row"},
    ]
    teachers = [person(100 + i, sourcedId=f"t{i}", role="teacher") for i in range(4)] + [person(100, sourcedId="t1", familyName="X")]
    classes = [
        {"sourcedId": f"c{i}", "status": "active", "dateLastModified": STAMP, "title": f"Class {i}", "course": {"sourcedId": "k1"},
         "school": {"sourcedId": "sch-1"}, "terms": [{"sourcedId": "y1"}], "periods": ["1"]}
        for i in range(5)
    ] + [{"sourcedId": "c4", "status": "active", "title": "Again"}]  # c4 conflicts: rejected, yet not an orphan target
    enrollments = [
        {"sourcedId": f"e{i}", "status": "active", "dateLastModified": STAMP, "role": "student",
         "user": {"sourcedId": user}, "class": {"sourcedId": section}, "beginDate": "2026-08-20"}
        for i, (user, section) in enumerate(
            [("s0", "c0"), ("s1", "c1"), ("ghost", "c1"), ("s2", "c2"), ("s3", "nowhere"), ("s7", "c4"), ("t1", "c3"),
             ("s4", "c0"), ("s90", "c0"), ("s6", "c2"), ("s8", "c3"), ("s20", "c0"), ("s21", "c1")]
        )
    ] + [{"sourcedId": "e3", "status": "active", "role": "student", "user": {"sourcedId": "s2"}, "class": {"sourcedId": "c2"},
          "dateLastModified": STAMP, "beginDate": "2026-08-20"}]  # an identical copy of e3, last
    schools = [{"sourcedId": "sch-1", "status": "active", "name": "Lincoln"}, {"sourcedId": 17, "status": "active", "name": "Numeric"}]
    schools += [{"sourcedId": f"sch-{i}", "status": "active", "name": f"School {i}"} for i in range(2, 6)]
    return {
        "schools": schools, "classes": classes, "students": students, "demographics": demographics,
        "teachers": teachers, "enrollments": enrollments,
    }


def staged(tmp_path, collections: dict[str, list[dict]], modes: dict[str, str]) -> dict[str, dict]:
    raw = {}
    for name, records in collections.items():
        path = tmp_path / "raw" / f"{name}.ndjson"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        raw[name] = {"path": str(path), "rows": len(records), "mode": modes.get(name, "bulk")}
    return raw


def outcome(raw, out_dir, size: int, newest_wins: bool, integration: IntegrationConfig = INTEGRATION) -> dict:
    results = normalize_integration(
        integration, OneRosterNormalizer(), raw, out_dir, TODAY, newest_wins=newest_wins, chunk_records=size
    )
    shown = {}
    for entity, result in results.items():
        valid, rejected = read_frame(result["valid"]["path"]), read_frame(result["rejected"]["path"])
        counts = {key: value for key, value in result.items() if key not in ("valid", "rejected", "seconds")}
        shown[entity] = (counts, result["valid"]["rows"], result["rejected"]["rows"], valid, rejected)
    return shown


def arrow_readable(district: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The dirty district less its numeric ids and number, so Arrow reads every collection chunk by chunk (no
    whole-file fallback; read whole, pandas would type the lone number a float, chunks of one an integer)."""
    readable = {name: [r for r in records if not isinstance(r.get("sourcedId"), int)] for name, records in district.items()}
    return readable | {"students": [s | {"metadata": {"home": s["metadata"]["home"]}} for s in readable["students"]]}


@pytest.mark.parametrize("newest_wins", [False, True])
@pytest.mark.parametrize("modes", [{}, {"demographics": "delta", "students": "delta"}])
@pytest.mark.parametrize("readable", [False, True], ids=["arrow-refuses-students", "arrow-reads-students"])
def test_chunks_give_exactly_the_whole_collections_result(tmp_path, newest_wins, modes, readable):
    district = arrow_readable(dirty_district()) if readable else dirty_district()
    raw = staged(tmp_path, district, modes)
    whole = outcome(raw, tmp_path / "whole", 0, newest_wins)
    # the district is as dirty as meant: copies collapse (or older versions give way), bad rows and orphans rejected
    assert whole["students"][0]["repeated"] == (0 if newest_wins else 2) and whole["students"][2] >= 6
    assert whole["enrollments"][2] == (3 if not modes else 1)  # orphans only where students came in bulk
    for size in (1, 3, 50_000):
        chunked = outcome(raw, tmp_path / f"chunks-{size}", size, newest_wins)
        assert list(chunked) == list(whole)
        for entity, (counts, valid_rows, rejected_rows, valid, rejected) in chunked.items():
            expected = whole[entity]
            assert (counts, valid_rows, rejected_rows) == expected[:3], (size, entity)
            pd.testing.assert_frame_equal(valid, expected[3], obj=f"{entity} valid, chunks of {size}")
            pd.testing.assert_frame_equal(rejected, expected[4], obj=f"{entity} rejected, chunks of {size}")
        assert not list((tmp_path / f"chunks-{size}").glob(".spill-*"))  # the scratch files are gone


def test_an_empty_collection_gives_the_same_empty_datasets(tmp_path):
    raw = staged(tmp_path, {"schools": [], "students": [], "demographics": []}, {})
    # without extra fields: the whole path cannot build an empty `extra` column (json_objects of no rows)
    plain = INTEGRATION.model_copy(update={"options": {}})
    whole, chunked = outcome(raw, tmp_path / "whole", 0, False, plain), outcome(raw, tmp_path / "chunked", 3, False, plain)
    for entity in whole:
        assert chunked[entity][:3] == whole[entity][:3]
        pd.testing.assert_frame_equal(chunked[entity][3], whole[entity][3])


def test_chunks_keep_the_records_positions(tmp_path):
    raw = staged(tmp_path, {"students": [person(i) for i in range(7)]}, {})
    chunks = list(iter_records(raw["students"]["path"], SCHEMAS["students"], 3))
    assert [list(chunk.index) for chunk in chunks] == [[0, 1, 2], [3, 4, 5], [6]]


def test_the_chunk_size_is_a_whole_number_of_records():
    assert chunk_records({}) == 20_000 and chunk_records({"SIS_CHUNK_RECORDS": "0"}) == 0
    with pytest.raises(Exception, match="SIS_CHUNK_RECORDS"):
        chunk_records({"SIS_CHUNK_RECORDS": "lots"})


def test_a_related_collections_lookup_is_built_once_not_per_chunk(tmp_path, monkeypatch):
    """The students' demographics table is derived once for all their chunks (it was once per chunk: at a
    million students, twenty chunks each re-reading a million demographics records)."""
    import sis_pipeline.providers.oneroster.normalize as oneroster

    built = []
    real_by_id_of = oneroster.by_id_of
    monkeypatch.setattr(oneroster, "by_id_of", lambda *args, **kwargs: built.append(1) or real_by_id_of(*args, **kwargs))
    district = arrow_readable(dirty_district())
    raw = staged(tmp_path, district, {})
    outcome(raw, tmp_path / "chunks", 2, False)
    assert len(district["students"]) > 2 * 5  # many chunks of students ...
    assert len(built) == 1  # ... one demographics table
