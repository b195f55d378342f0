"""Peak memory and seconds of the students' resolve step, a baseline commit's code vs this tree's.

    .venv/bin/python bench/resolve_memory.py --students 100000 1000000

Per size: a synthetic valid students dataset (the canonical columns of normalize/models.py's Student,
written as the normalise step writes it: FrameWriter, row groups of staging.ROW_GROUP_ROWS) and a fresh
PostgreSQL database with the warehouse schema. Two warehouses are measured in turn:

- `first sync`: the database is empty, every student gets a new uid;
- `re-sync`: the database holds every student (students and student_mappings, by COPY) and 1% of them
  carry a local edit of last_name that the delivery changes, so the identity index is read whole and
  settle_conflicts has work (strategy `manual`).

Each path runs in a child process of its own and reports its peak RSS (getrusage ru_maxrss) and the
step's seconds: `old` imports sis_pipeline from `git archive <--baseline>` and runs its resolve step (its
resolve/stage.py, or, in commits before that file, the delivery read whole, resolved, settled and written
whole), `new` runs this tree's resolve/stage.py. Both must write
the same number of rows and the same conflict decisions; on a re-sync, the same uid in every row.
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INTEGRATION = "bench_district"
EDITED_SHARE = 100  # one student in this many carries a local edit
ROOT = Path(__file__).resolve().parent.parent


def progress(message: str) -> None:
    print(f"[resolve_memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def synthetic_students(start: int, stop: int):
    """Students start..stop-1 in the canonical shape, every identity column filled as a SIS would."""
    import numpy as np
    import pandas as pd

    from sis_pipeline.normalize.models import columns
    from sis_pipeline.normalize.related import NOT_DELIVERED

    number = np.arange(start, stop)
    text = pd.Series(number).astype(str)
    frame = pd.DataFrame({
        "integration": INTEGRATION, "source_id": "stu-" + text, "status": "active",
        "source_updated_at": pd.Timestamp("2026-11-30T08:00Z"),
        "first_name": "Given" + (pd.Series(number) % 3000).astype(str), "middle_name": None,
        "last_name": "Family" + (pd.Series(number) % 5000).astype(str), "email": "s" + text + "@example.org",
        "username": "s" + text, "school_source_id": "sch-" + (pd.Series(number) % 40).astype(str), "enabled": True,
        "legacy_source_id": None, "extra": None, "student_number": text.str.zfill(8), "state_id": "ST" + text.str.zfill(10),
        "preferred_first_name": None,
        "birth_date": (pd.Timestamp("2008-01-01") + pd.to_timedelta(pd.Series(number) % 4000, unit="D")).dt.strftime("%Y-%m-%d"),
        "sex": np.where(number % 2, "F", "M"), "grade_level": "05", "enrollment_status": None, NOT_DELIVERED: None,
    })
    return frame[[*columns("students"), NOT_DELIVERED]]


def write_delivery(path: Path, students: int) -> None:
    from sis_pipeline.normalize.chunked import valid_schema
    from sis_pipeline.staging import ROW_GROUP_ROWS, FrameWriter

    writer = FrameWriter(path, valid_schema("students"))
    for start in range(0, students, ROW_GROUP_ROWS):
        writer.write(synthetic_students(start, min(students, start + ROW_GROUP_ROWS)))
    writer.close()


def uid(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def seed_warehouse(url: str, students: int) -> None:
    """Every student already synced (students, student_mappings); one in EDITED_SHARE with a local last_name
    edit, and the delivery's last_name of those differs from the warehouse's, so each edit meets a change."""
    import psycopg

    from _scratch import libpq_url

    columns = "integration, source_id, status, source_updated_at, first_name, last_name, student_number, state_id, birth_date, student_uid, first_seen_at, updated_at"
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        for start in range(0, students, 100_000):
            frame = synthetic_students(start, min(students, start + 100_000))
            edited = frame.index[frame["source_id"].str[4:].astype(int) % EDITED_SHARE == 0]
            frame.loc[edited, "last_name"] = frame.loc[edited, "last_name"] + "-before"
            uids = [uid(number) for number in range(start, start + len(frame))]
            with cursor.copy(f"COPY students ({columns}) FROM STDIN") as copy:
                for row, student_uid in zip(frame.itertuples(index=False), uids, strict=True):
                    copy.write_row((row.integration, row.source_id, row.status, row.source_updated_at, row.first_name, row.last_name,
                                    row.student_number, row.state_id, row.birth_date, student_uid, "2026-11-01", "2026-11-01"))
            with cursor.copy("COPY student_mappings (integration, id_type, source_id, student_uid, rule, linked_at) FROM STDIN") as copy:
                for source_id, student_uid in zip(frame["source_id"], uids, strict=True):
                    copy.write_row((INTEGRATION, "source_id", source_id, student_uid, "source_id", "2026-11-01"))
            with cursor.copy("COPY local_overrides (student_uid, field, value, set_by, set_at) FROM STDIN") as copy:
                for position in edited:
                    copy.write_row((uids[position], "last_name", "Local", "registrar", "2026-11-01"))
        conn.commit()


def child(path: str, url: str, which: str, out_dir: str) -> None:
    """One resolve step in this process; prints peak RSS, seconds and what it wrote as JSON."""
    import pyarrow.parquet as pq

    import sis_pipeline
    from sis_pipeline.warehouse.engine import create_warehouse_engine

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine = create_warehouse_engine(url)
    out = Path(out_dir) / "students.parquet"
    started = time.perf_counter()
    try:
        from sis_pipeline.resolve.stage import resolve_students
    except ImportError:  # a baseline from before the resolve step streamed
        resolve_students = None
    if resolve_students is None:  # resolved_rosters, students half, as it read before
        from sis_pipeline.resolve.identity import resolve_identities
        from sis_pipeline.staging import read_frame, write_frame
        from sis_pipeline.warehouse.identity_reviews import record_reviews
        from sis_pipeline.warehouse.overrides import settle_conflicts
        from sis_pipeline.warehouse.student_mappings import read_identity_index

        delivered = read_frame(path)
        students, reviews = resolve_identities(delivered, read_identity_index(engine, INTEGRATION, delivered), INTEGRATION)
        record_reviews(engine, "bench-run", INTEGRATION, reviews)
        decisions = settle_conflicts(engine, INTEGRATION, "manual", students)
        written = write_frame(out, students)
    else:
        resolved = resolve_students(engine, INTEGRATION, "bench-run", "manual", path, out)
        written, decisions = resolved.students, resolved.decisions
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    uids = pq.read_table(out, columns=["student_uid", "identity_rule"])
    print(json.dumps({
        "code": str(Path(sis_pipeline.__file__).parent.parent),
        "seconds": round(seconds, 2),
        "rss_after_imports_mib": round(before / 1024, 1),
        "peak_rss_mib": round(peak / 1024, 1),
        "rows": written["rows"],
        "decisions": sorted(map(tuple, decisions[["source_id", "field", "action", "sis_value", "local_value"]].astype(str).values.tolist())),
        "rules": uids.column("identity_rule").to_pandas().value_counts().to_dict(),
        "uids_digest": hashlib.sha256("\n".join(uids.column("student_uid").to_pylist()).encode()).hexdigest(),
    }, default=int))


def run_child(path: Path, url: str, which: str, scratch: Path, baseline: Path) -> dict:
    out_dir = scratch / f"resolved-{which}"
    out_dir.mkdir()
    env = os.environ | ({"PYTHONPATH": str(baseline)} if which == "old" else {})
    done = subprocess.run([sys.executable, __file__, "--child", str(path), url, which, str(out_dir)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{which} child failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(students: int, scratch: Path, baseline: Path) -> dict:
    from _scratch import create_database, drop_database
    from sis_pipeline.warehouse import create_warehouse_engine, ensure_schema

    delivery = scratch / "students.parquet"
    progress(f"{students} students: writing the delivery")
    write_delivery(delivery, students)
    results = {}
    for warehouse in ("first sync", "re-sync"):
        url = create_database()
        try:
            engine = create_warehouse_engine(url)
            ensure_schema(engine)
            engine.dispose()
            if warehouse == "re-sync":
                progress(f"{students} students: seeding the warehouse")
                seed_warehouse(url, students)
            runs = {}
            for which in ("old", "new"):
                progress(f"{students} students, {warehouse}: {which} path")
                runs[which] = run_child(delivery, url, which, scratch, baseline)
        finally:
            drop_database(url)
        old, new = runs["old"], runs["new"]
        if (old["rows"], old["decisions"], old["rules"]) != (new["rows"], new["decisions"], new["rules"]):
            raise RuntimeError(f"{students} students, {warehouse}: the paths disagree")
        if warehouse == "re-sync" and old["uids_digest"] != new["uids_digest"]:
            raise RuntimeError(f"{students} students, re-sync: the paths gave different uids")
        results[warehouse] = {which: {key: run[key] for key in ("seconds", "peak_rss_mib", "rss_after_imports_mib", "rows", "rules", "code")}
                              | {"decisions": len(run["decisions"])} for which, run in runs.items()}
    return results


def baseline_code(ref: str, scratch: Path) -> Path:
    """The `ref` commit's sis_pipeline package, unpacked for the old path's child to import first."""
    target = scratch / "baseline"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "sis_pipeline"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--baseline", default="main", help="the git commit whose code is the old path (default main)")
    parser.add_argument("--json-out", help="default bench/results/resolve_memory.json")
    parser.add_argument("--child", nargs=4, metavar=("DELIVERY", "URL", "WHICH", "OUT_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    sizes = {}
    for students in args.students:
        scratch = Path(tempfile.mkdtemp(prefix="sis_bench_resolve_"))
        try:
            sizes[students] = measure(students, scratch, baseline_code(args.baseline, scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    from _scratch import RESULTS_DIR, results_head, write_results  # here, not at the top: the measured child imports only what it needs

    results = results_head("resolve_memory") | {"baseline": args.baseline, "sizes": sizes}
    out = Path(args.json_out) if args.json_out else RESULTS_DIR / "resolve_memory.json"
    write_results(results, out)
    print(f"{'students':>9} {'warehouse':>11} {'path':>5} {'peak RSS MiB':>13} {'after imports':>14} {'seconds':>8} {'decisions':>10}")
    for students, warehouses in sizes.items():
        for warehouse, runs in warehouses.items():
            for which, run in runs.items():
                print(f"{students:>9} {warehouse:>11} {which:>5} {run['peak_rss_mib']:>13} {run['rss_after_imports_mib']:>14} "
                      f"{run['seconds']:>8} {run['decisions']:>10}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
