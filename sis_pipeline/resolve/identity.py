"""One stable `student_uid` per child: reuse the uid already linked to a source id, mint one otherwise."""

import uuid

import pandas as pd


def assign_student_uids(students: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """`students` with a `student_uid` column; `known` maps source_id -> student_uid for the integration.

    Uids are random UUIDs, never derived from a source id, so a changed source id can later be
    re-linked to the same child (alternate-id matching arrives with the identity issue).
    """
    linked = known.drop_duplicates("source_id").set_index("source_id")["student_uid"]
    uids = students["source_id"].map(linked).astype(object)
    new = uids.isna()
    uids.loc[new] = [str(uuid.uuid4()) for _ in range(int(new.sum()))]
    return students.assign(student_uid=uids)
