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


def test_a_child_still_delivered_under_its_own_id_is_never_taken_over_by_its_state_id():
    """A new record listed before the child, carrying the child's state id, is a new child (or a review):
    the child is still delivered, so it is not re-keyed, and one uid never lands on two records."""
    from sis_pipeline.resolve.identity import IdentityIndex, IdentityResolver

    child = str(uuid.uuid4())
    known = IdentityIndex(
        pd.DataFrame({"id_type": ["source_id"], "source_id": ["a"], "student_uid": [child]}),
        pd.DataFrame({"integration": ["d"], "source_id": ["a"], "student_uid": [child], "state_id": ["S1"], "student_number": ["n-1"],
                      "first_name": ["Ann"], "last_name": ["Lee"], "birth_date": ["2010-01-01"]}),
    )
    delivery = pd.DataFrame({"integration": "d", "source_id": ["c", "a"], "state_id": ["S1", "S1"], "student_number": ["n-1", "n-1"]})
    # a chunk at a time, as the resolve step reads row groups; the delivery's ids are known up front
    resolver = IdentityResolver(known, "d", lambda: delivery["source_id"])
    resolved = pd.concat([resolver.resolve(delivery.iloc[[0]]), resolver.resolve(delivery.iloc[[1]])])
    assert resolved["identity_rule"].tolist() == ["new", "source_id"]
    assert resolved["student_uid"].tolist()[1] == child and resolved["student_uid"].tolist()[0] != child
