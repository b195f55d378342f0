"""The identity step alone decides each student's uid and how it was found."""

import uuid

import pandas as pd

from sis_pipeline.resolve.identity import assign_student_uids


def test_uids_are_reused_by_source_id_then_by_legacy_id_and_minted_otherwise():
    known_uid, rekeyed_uid = str(uuid.uuid4()), str(uuid.uuid4())
    known = pd.DataFrame(
        {"id_type": ["source_id", "source_id"], "source_id": ["s-1", "old-2"], "student_uid": [known_uid, rekeyed_uid]}
    )
    students = pd.DataFrame({"source_id": ["s-1", "new-2", "s-3"], "legacy_source_id": [None, "old-2", "never-seen"]})

    resolved = assign_student_uids(students, known)

    assert resolved["student_uid"].tolist()[:2] == [known_uid, rekeyed_uid]
    assert resolved["identity_rule"].tolist() == ["source_id", "legacy_source_id", "new"]
    minted = resolved["student_uid"].iloc[2]
    assert uuid.UUID(minted).version == 4 and minted not in (known_uid, rekeyed_uid)


def test_a_provider_without_legacy_ids_gets_source_id_matches_and_new_uids():
    known_uid = str(uuid.uuid4())
    known = pd.DataFrame({"id_type": ["source_id"], "source_id": ["s-1"], "student_uid": [known_uid]})
    resolved = assign_student_uids(pd.DataFrame({"source_id": ["s-1", "s-2"]}), known)
    assert resolved["identity_rule"].tolist() == ["source_id", "new"]
    assert resolved["student_uid"].iloc[0] == known_uid
