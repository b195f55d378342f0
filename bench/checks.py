"""What the data-quality checks cost on a warehouse that already holds an integration, per severity.

    .venv/bin/python bench/checks.py --url postgresql+psycopg://postgres@127.0.0.1:5432/<db> --integration bench_district

Runs `run_checks` exactly as the Dagster asset checks do (defs/checks.py), without recording the outcomes.
On PostgreSQL the first run ANALYZEs tables a load left without fresh statistics (warehouse/statistics.py):
point it at a copy when the warehouse must stay untouched. Each severity runs `--repeat` times; the best
time is printed beside the first (the first pays for the statistics and a cold cache). Default thresholds;
the run id judged is a fresh one, so row-count drift compares against the newest full sync.
"""

import argparse
import time
import uuid

from sqlalchemy import create_engine

from sis_pipeline.config import QualityThresholds
from sis_pipeline.quality.checks import SEVERITIES, run_checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the warehouse")
    parser.add_argument("--integration", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--outcomes", action="store_true", help="print every outcome (to compare two versions)")
    args = parser.parse_args()

    engine = create_engine(args.url)
    run_id = f"bench-checks-{uuid.uuid4().hex[:8]}"
    total = 0.0
    for severity in SEVERITIES:
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            outcomes = run_checks(engine, args.integration, QualityThresholds(), run_id=run_id, severity=severity)
            seconds.append(time.perf_counter() - started)
        total += min(seconds)
        failed = sum(not o.passed for o in outcomes)
        print(f"{severity:5}  best {min(seconds):6.2f} s  first {seconds[0]:6.2f} s  {len(outcomes)} checks, {failed} failed")
        if args.outcomes:
            for o in outcomes:
                print(f"    {o.entity}.{o.check_name} passed={o.passed} observed={o.observed} threshold={o.threshold} | {o.detail}")
    print(f"both   best {total:6.2f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
