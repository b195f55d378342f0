"""The numbers a district reads for each entity of a run, named in one place."""

from collections.abc import Mapping

STAGE_COUNTS = ("fetched", "valid", "rejected")
LOAD_COUNTS = ("inserted", "updated", "unchanged", "archived")
COUNT_NAMES = STAGE_COUNTS + LOAD_COUNTS


def entity_counts(fetched: int, valid: int, rejected: int, loaded: Mapping[str, int]) -> dict[str, int]:
    """The seven numbers of one entity, in the order the report prints them."""
    return {"fetched": fetched, "valid": valid, "rejected": rejected, **{name: int(loaded[name]) for name in LOAD_COUNTS}}
