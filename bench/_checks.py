"""What makes the suite's numbers worth reading: each phase did exactly what it should, or the run fails."""

from _scratch import TOTAL_KEYS, check

WRITES = ("inserted", "updated", "archived")


def check_success(phase: str, result: dict) -> None:
    """A run's status first: counts of a failed run mean nothing."""
    check(result.get("status") == "success", f"{phase}: the sync did not succeed: {result.get('error')}")


def check_warehouse_matches_totals(rows: dict[str, int], totals: dict[str, int]) -> None:
    wrong = {table: (rows[table], totals[key]) for table, key in TOTAL_KEYS.items() if rows[table] != totals[key]}
    check(not wrong, f"warehouse rows differ from the simulator's totals (rows, total): {wrong}")


def check_resync_wrote_nothing(entities: dict[str, dict]) -> None:
    written = {entity: counts for entity, counts in entities.items() if any(counts[name] for name in WRITES)}
    check(not written, f"an unchanged re-sync wrote rows: {written}")


def check_incremental_wrote_only(entities: dict[str, dict], moved: dict[str, set], renamed: list[str], deleted: list[str]) -> None:
    """The run's counts, and the rows whose updated_at moved during it (`moved`), are exactly the changed students."""
    students = entities["students"]
    expected = {"inserted": 0, "updated": len(renamed) + len(deleted), "archived": len(deleted)}
    check({name: students[name] for name in WRITES} == expected,
          f"students: expected {expected} from the incremental sync, it reported {students}")
    others = {entity: counts for entity, counts in entities.items()
              if entity != "students" and any(counts[name] for name in WRITES)}
    check(not others, f"the incremental sync wrote other entities: {others}")
    changed = set(renamed) | set(deleted)
    check(moved.get("students", set()) == changed,
          f"students rewritten in the warehouse differ from those changed: {len(moved.get('students', set()) - changed)} "
          f"extra, {len(changed - moved.get('students', set()))} missing")
    rewritten = {table: len(ids) for table, ids in moved.items() if table != "students" and ids}
    check(not rewritten, f"the incremental sync rewrote rows of other tables: {rewritten}")


def check_counts(phase: str, counted: dict[str, int], expected: dict[str, int]) -> None:
    wrong = {name: (counted.get(name), expected[name]) for name in expected if counted.get(name) != expected[name]}
    check(not wrong, f"{phase}: counts differ from what they should be (counted, expected): {wrong}")
