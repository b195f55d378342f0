"""One stable `student_uid` per child, decided here and nowhere else: reuse the uid already linked to an id
of theirs, mint one otherwise. The load records these decisions; it never makes its own."""

import uuid

import pandas as pd

IDENTITY_RULE = "identity_rule"  # how the uid was found: 'source_id', 'legacy_source_id' or 'new'


def assign_student_uids(students: pd.DataFrame, known: pd.DataFrame) -> pd.DataFrame:
    """`students` with `student_uid` and `identity_rule`; `known` holds the integration's links (id_type, source_id, student_uid).

    Matched first by the same source id, then by the record's legacy id (the id it had before the SIS
    re-keyed it, which was a source id then). Uids are random UUIDs, never derived from a source id,
    so a changed source id is re-linked to the same child instead of minting a duplicate.
    """
    linked = known.drop_duplicates("source_id").set_index("source_id")["student_uid"]
    uids = students["source_id"].map(linked).astype(object)
    rules = pd.Series("source_id", index=students.index, dtype=object).where(uids.notna())
    if "legacy_source_id" in students:
        by_legacy = students["legacy_source_id"].map(linked)
        rules = rules.where(uids.notna() | by_legacy.isna(), "legacy_source_id")
        uids = uids.where(uids.notna(), by_legacy)
    new = uids.isna()
    uids.loc[new] = [str(uuid.uuid4()) for _ in range(int(new.sum()))]
    return students.assign(student_uid=uids, **{IDENTITY_RULE: rules.fillna("new")})
