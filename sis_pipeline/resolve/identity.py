"""One stable `student_uid` per child: reuse the uid already linked to an id of theirs, mint one otherwise."""

import uuid

import pandas as pd


def assign_student_uids(students: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """`students` with a `student_uid` column; `known` holds the integration's links (id_type, source_id, student_uid).

    Matched first by the same source id, then by the record's legacy id (the id it had before the SIS
    re-keyed it, which was a source id then). Uids are random UUIDs, never derived from a source id,
    so a changed source id is re-linked to the same child instead of minting a duplicate.
    """
    linked = known.drop_duplicates("source_id").set_index("source_id")["student_uid"]
    uids = students["source_id"].map(linked).astype(object)
    if "legacy_source_id" in students:
        uids = uids.where(uids.notna(), students["legacy_source_id"].map(linked))
    new = uids.isna()
    uids.loc[new] = [str(uuid.uuid4()) for _ in range(int(new.sum()))]
    return students.assign(student_uid=uids)
