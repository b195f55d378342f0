"""The conflict-resolution step at district scale: N students, 1% of them with a local edit the SIS also changed.

    .venv/bin/python bench/conflicts.py --students 1000000

Times `resolve.conflicts.decide_conflicts` (the vectorised three-way comparison the `resolved_rosters`
asset runs) under each strategy on synthetic frames of the canonical shape, and the identity step
(`resolve.identity.resolve_identities`) on the same students against a warehouse that knows them all.
Asserts the figures it prints: every strategy decides exactly the edited records it should.
"""

import argparse
import json
import os
import platform
import time
import uuid
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from sis_pipeline.resolve.conflicts import decide_conflicts
from sis_pipeline.resolve.identity import IdentityIndex, resolve_identities

EXPECTED_ACTION = {"sis_wins": "retire", "newest_wins": "retire", "manual": "conflict", "local_wins": None}


def frames(students: int, edited_share: float, seed: int = 7):
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"stu-{i}" for i in range(students)], dtype=object)
    uids = pd.Series([str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, students)], dtype=object)
    base = pd.DataFrame({
        "source_id": ids, "student_uid": uids,
        "last_name": pd.Series([f"Family{i % 5000}" for i in range(students)], dtype=object),
        "first_name": pd.Series([f"Given{i % 3000}" for i in range(students)], dtype=object),
        "state_id": pd.Series([f"{i:010d}" for i in range(students)], dtype=object),
    })
    edited = rng.choice(students, size=int(students * edited_share), replace=False)
    incoming = base.assign(source_updated_at=pd.Timestamp("2026-11-30T08:00Z"))
    incoming.loc[edited, "last_name"] = incoming.loc[edited, "last_name"] + "-sis"  # the SIS changed exactly these
    overrides = pd.DataFrame({
        "override_id": np.arange(len(edited)), "student_uid": uids[edited].values, "field": "last_name",
        "value": [f"Local{i}" for i in range(len(edited))], "set_at": pd.Timestamp("2026-11-01T08:00Z"),
    })
    return base, incoming, overrides, edited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=1_000_000)
    parser.add_argument("--edited-share", type=float, default=0.01)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    base, incoming, overrides, edited = frames(args.students, args.edited_share)
    results = {
        "benchmark": "conflicts", "students": args.students, "edited": len(edited), "strategies": {},
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_1m": os.getloadavg()[0]},
    }
    for strategy, action in EXPECTED_ACTION.items():
        started = time.perf_counter()
        decided = decide_conflicts(strategy, incoming, overrides, base)
        seconds = time.perf_counter() - started
        expected = len(edited) if action else 0
        assert len(decided) == expected and (action is None or set(decided["action"]) == {action}), (strategy, len(decided))
        results["strategies"][strategy] = {"seconds": round(seconds, 3), "decided": len(decided)}
    people = base.assign(integration="district", student_number=None, birth_date=None)
    mappings = pd.DataFrame({"id_type": "source_id", "source_id": base["source_id"], "student_uid": base["student_uid"]})
    started = time.perf_counter()
    resolved, reviews = resolve_identities(incoming.assign(integration="district"), IdentityIndex(mappings, people), "district")
    results["identity_seconds"] = round(time.perf_counter() - started, 3)
    assert (resolved["student_uid"] == base["student_uid"]).all() and reviews.empty

    print(f"{args.students:,} students, {len(edited):,} with a local edit the SIS also changed")
    print(f"{'strategy':<12}{'seconds':>10}{'decided':>10}")
    for strategy, row in results["strategies"].items():
        print(f"{strategy:<12}{row['seconds']:>10.3f}{row['decided']:>10,}")
    print(f"identity step (every student matched by source id): {results['identity_seconds']:.3f} s")
    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
