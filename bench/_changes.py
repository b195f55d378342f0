"""1% of a district's students change at the simulator: what incremental.py and suite.py both sync afterwards."""

import random

from _scratch import check

CHANGES_PER_REQUEST = 1000


def choose_changes(student_ids: list[str], fraction: float, tobedeleted_share: float, seed: int) -> tuple[list[str], list[str]]:
    """(students to rename, students to mark tobedeleted): `fraction` of the students, drawn with `seed`."""
    count = max(2, round(len(student_ids) * fraction))
    chosen = random.Random(seed).sample(sorted(student_ids), count)
    deleted = max(1, round(count * tobedeleted_share))
    return chosen[deleted:], chosen[:deleted]


def new_given_name(position: int) -> str:
    """The name the `position`-th renamed student gets, so a check can tell it arrived."""
    return f"Changed{position}"


def apply_changes(simulator, renamed: list[str], deleted: list[str]) -> int:
    """Rename `renamed` and mark `deleted` tobedeleted through the admin API (which stamps dateLastModified)."""
    changes = [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"givenName": new_given_name(i)}}
               for i, s in enumerate(renamed)]
    changes += [{"op": "tobedeleted", "collection": "students", "sourcedId": s} for s in deleted]
    for start in range(0, len(changes), CHANGES_PER_REQUEST):
        batch = changes[start:start + CHANGES_PER_REQUEST]
        applied = simulator.apply_changes(batch)["applied"]
        check(applied == len(batch), f"the simulator applied {applied} of {len(batch)} changes")
    return len(changes)
