"""One stable `student_uid` per child, decided here and nowhere else; the load records the decisions.

Matching order, first match wins:
  (a) the same integration and source id;
  (b) a known alternate id of the same integration (the id before a SIS re-keyed the record, such as
      Infinite Campus's legacy id);
  (c) the same `state_id`, within the integration or across integrations (a re-keyed record, a
      transfer between districts, a district moving SIS) when exactly one child holds it;
  (d) the same student number within the integration, when exactly one child holds it.
A source id still delivered under its own id is never taken over by another record through (c) or (d).
The same name and birth date is never merged automatically: the record gets a new uid and a review
(`identity_reviews`) names the child it may be. Uids are random UUIDs, never derived from an id.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

IDENTITY_RULE = "identity_rule"  # how the uid was found; the load writes it to the person's mappings
# how sure each rule is: written beside every link, so a reviewer can find the weaker ones
RULE_CONFIDENCE = {
    "source_id": 1.0, "legacy_source_id": 1.0, "state_id": 0.95, "student_number": 0.9, "staff_number": 0.9, "new": 1.0, "review": 1.0
}
# the uid column of each person table
PERSON_UIDS = {"students": "student_uid", "teachers": "teacher_uid"}


@dataclass(frozen=True)
class IdentityIndex:
    """What the warehouse already knows. `mappings`: this integration's links (id_type, source_id,
    student_uid). `people`: every student row of every integration (integration, source_id, student_uid,
    state_id, student_number, first_name, last_name, birth_date), or how to read them when first needed."""

    mappings: pd.DataFrame
    people: pd.DataFrame | Callable[[], pd.DataFrame]


def assign_teacher_uids(teachers: pd.DataFrame, mappings: pd.DataFrame, people: pd.DataFrame, integration: str) -> pd.DataFrame:
    """`teachers` with `teacher_uid` and `identity_rule`: the same source id, a known legacy id, or the
    same staff number within the integration (when one teacher holds it), else a new uid. Teachers have
    no state id in any SIS we read, so they are never matched across integrations."""
    linked = mappings.drop_duplicates("source_id").set_index("source_id")["teacher_uid"]
    uids = teachers["source_id"].map(linked).astype(object)
    rules = pd.Series(None, index=teachers.index, dtype=object).where(uids.isna(), "source_id")
    candidates = [("legacy_source_id", teachers.get("legacy_source_id"), linked)]
    others = people[(people["integration"] == integration) & ~people["source_id"].isin(set(teachers["source_id"]))]
    held = others[["staff_number", "teacher_uid"]].dropna().drop_duplicates()
    owners = held.groupby("staff_number")["teacher_uid"].agg(["first", "nunique"])
    candidates.append(("staff_number", teachers.get("staff_number"), owners.loc[owners["nunique"] == 1, "first"]))
    for rule, keys, index in candidates:
        if keys is None:
            continue
        found = keys.map(index)
        fill = uids.isna() & found.notna() & ~found.duplicated(keep="first")
        uids, rules = uids.where(~fill, found), rules.where(~fill, rule)
    new = uids.isna()
    uids.loc[new] = [str(uuid.uuid4()) for _ in range(int(new.sum()))]
    return teachers.assign(teacher_uid=uids, **{IDENTITY_RULE: rules.fillna("new")})


def assign_student_uids(students: pd.DataFrame, known: IdentityIndex | pd.DataFrame, integration: str | None = None) -> pd.DataFrame:
    """`students` with `student_uid` and `identity_rule` (see the module's matching order)."""
    return resolve_identities(students, known, integration)[0]


def resolve_identities(
    students: pd.DataFrame, known: IdentityIndex | pd.DataFrame, integration: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(`students` with `student_uid` and `identity_rule`, reviews: source_id, candidate_uid, reason)."""
    if integration is None:
        integration = str(students["integration"].iloc[0]) if "integration" in students and len(students) else ""
    resolver = IdentityResolver(known, integration, lambda: students["source_id"])
    resolved = resolver.resolve(students)
    return resolved, resolver.reviews()


class IdentityResolver:
    """A delivery resolved a chunk at a time, in delivery order, exactly as resolving it whole would.

    What spans the whole delivery is held once, sized by what the warehouse knows rather than by the
    delivery: the known children and the owners of each key among them, and the uids already taken by
    earlier chunks (only matched uids can repeat; a new uid is a fresh UUID). The delivery's own source
    ids are read only when a record is left unmatched by its ids and the warehouse knows someone they
    could exclude, and then as one Arrow column.
    """

    def __init__(self, known: IdentityIndex | pd.DataFrame, integration: str, delivered_ids: Callable[[], pd.Series | pa.Array]):
        if isinstance(known, pd.DataFrame):  # links only (older callers): rules (a) and (b)
            known = IdentityIndex(known, pd.DataFrame(columns=list(_PEOPLE_COLUMNS)))
        self.integration = integration
        self.linked = known.mappings.drop_duplicates("source_id").set_index("source_id")["student_uid"]
        self._people = known.people
        self._delivered_ids = delivered_ids
        self.taken: set[str] = set()  # uids matched by earlier chunks
        self._claimed_reviews: list[pd.DataFrame] = []
        self._name_reviews: list[pd.DataFrame] = []

    # The known children, and the owners of each key among them, are read and built on first need: a
    # re-sync whose records all match by source id (a `--reprocess` run, or most incremental ones) never
    # reads them.
    @cached_property
    def people(self) -> pd.DataFrame:
        return self._people() if callable(self._people) else self._people

    @cached_property
    def _others(self) -> pd.DataFrame:
        """The known children a delivered record may be matched to by state id or student number: a record
        whose own source id is still delivered is not someone else's old id."""
        people = self.people
        if not len(people):
            return people
        return people[~((people["integration"] == self.integration) & _delivered(people["source_id"], self._delivered_ids))]

    @cached_property
    def state_owner(self) -> pd.Series:
        return _unique_owner(self._others, "state_id")

    @cached_property
    def number_owner(self) -> pd.Series:
        return _unique_owner(self._others[self._others["integration"] == self.integration], "student_number")

    @cached_property
    def name_owner(self) -> pd.Series:
        return _unique_owner(_with_name_key(self.people), "name_key")

    def resolve(self, students: pd.DataFrame) -> pd.DataFrame:
        """The next chunk of the delivery with `student_uid` and `identity_rule`."""
        uids = students["source_id"].map(self.linked).astype(object)
        rules = pd.Series(None, index=students.index, dtype=object).where(uids.isna(), "source_id")

        def take(candidates: pd.Series, rule: str) -> None:
            nonlocal uids, rules
            fill = uids.isna() & candidates.notna()
            uids = uids.where(~fill, candidates)
            rules = rules.where(~fill, rule)

        if "legacy_source_id" in students:
            take(students["legacy_source_id"].map(self.linked), "legacy_source_id")
        if "state_id" in students and uids.isna().any():
            take(students["state_id"].map(self.state_owner), "state_id")
        if "student_number" in students and uids.isna().any():
            take(students["student_number"].map(self.number_owner), "student_number")

        # One child per uid within a delivery: a second record claiming a uid (two records with one state id)
        # gets its own uid and a review, rather than silently merging two children.
        # Only a record matched by another rule can be claiming; the uids earlier chunks took are looked up
        # for those alone (a re-sync takes every uid: matching all of them against that set cost a second a chunk).
        claimable = uids.notna() & (rules != "source_id")
        taken_before = np.zeros(len(uids), dtype=bool)
        taken_before[claimable.to_numpy()] = [uid in self.taken for uid in uids[claimable]]
        claimed = claimable & (uids.duplicated(keep="first") | taken_before)
        self.taken.update(uids.dropna())
        self._claimed_reviews.append(_review_rows(students, claimed, uids, "shares the uid of another record in this delivery"))
        uids = uids.where(~claimed)
        rules = rules.where(~claimed)

        new = uids.isna()
        if new.any():
            self._name_reviews.append(_review_rows(students[new], new[new], students_name_key(students[new]).map(self.name_owner),
                                                   "same name and birth date as an existing child; not merged automatically"))
        uids.loc[new] = [str(uuid.uuid4()) for _ in range(int(new.sum()))]
        return students.assign(student_uid=uids, **{IDENTITY_RULE: rules.fillna("new")})

    def reviews(self) -> pd.DataFrame:
        """Every review the chunks so far asked for (source_id, candidate_uid, reason), in the order resolving
        the whole delivery would list them: the shared uids, then the names."""
        found = [*self._claimed_reviews, *self._name_reviews]
        return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=REVIEW_COLUMNS)


def _delivered(known_ids: pd.Series, delivered_ids: Callable[[], pd.Series | pa.Array]) -> np.ndarray:
    """Which of the known children's source ids the delivery holds (a hash set of the delivery's ids, in Arrow)."""
    delivered = delivered_ids()
    values = delivered if isinstance(delivered, pa.Array | pa.ChunkedArray) else pa.array(delivered, type=pa.string(), from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    known = pa.array(known_ids.astype(object), type=pa.string(), from_pandas=True)
    return pc.is_in(known, value_set=values.cast(pa.string())).to_numpy(zero_copy_only=False)


REVIEW_COLUMNS = ["source_id", "candidate_uid", "reason"]
_PEOPLE_COLUMNS = ("integration", "source_id", "student_uid", "state_id", "student_number", "first_name", "last_name", "birth_date")


def _unique_owner(people: pd.DataFrame, key: str) -> pd.Series:
    """key value -> the one student_uid holding it (values held by two children match nothing)."""
    held = people[[key, "student_uid"]].dropna().drop_duplicates()
    owners = held.groupby(key)["student_uid"].agg(["first", "nunique"])
    return owners.loc[owners["nunique"] == 1, "first"]


def students_name_key(frame: pd.DataFrame) -> pd.Series:
    """first|last|birth date, case- and space-folded; None where any part is missing."""
    parts = [frame.get(column, pd.Series(None, index=frame.index, dtype=object)).astype("string").str.strip().str.lower()
             for column in ("first_name", "last_name", "birth_date")]
    key = parts[0] + "|" + parts[1] + "|" + parts[2]
    return key.astype(object).where(key.notna(), None)


def _with_name_key(people: pd.DataFrame) -> pd.DataFrame:
    return people.assign(name_key=students_name_key(people)) if len(people) else people.assign(name_key=pd.Series(dtype=object))


def _review_rows(students: pd.DataFrame, mask: pd.Series, candidates: pd.Series, reason: str) -> pd.DataFrame:
    chosen = mask & candidates.notna()
    return pd.DataFrame(
        {"source_id": students.loc[chosen, "source_id"].values, "candidate_uid": candidates[chosen].values, "reason": reason},
        columns=REVIEW_COLUMNS,
    )
