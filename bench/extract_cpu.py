"""Extraction alone against the fetch floor: the client's own cost of fetching and staging pages.

    .venv/bin/python bench/extract_cpu.py [--students 100000] [--repeat 2]

One OneRoster simulator; `extract()` (what the raw step runs, without Dagster, the normalise worker or
a database) into a scratch folder `--repeat` times, then the suite's plain-httpx fetch floor once, each
with its wall and CPU seconds (this process's, so the simulator's CPU is not in them). On two cores the
simulator competes with both: compare CPU seconds first, wall seconds within one run.
"""

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _floors import fetch_floor
from _scratch import write_integrations
from sis_pipeline.config import load_config
from sis_pipeline.defs.resources import open_provider
from sis_pipeline.extract import extract
from sis_pipeline.providers.oneroster.client import ENDPOINTS
from sis_simulators.server import SimulatorProcess
from sis_simulators.settings import SimulatorSettings

INTEGRATION = "bench_district"


def timed(label: str, work) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    work()
    print(f"{label}: {time.perf_counter() - started:.2f} s, CPU {time.process_time() - cpu:.2f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="extractions before the floor")
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args(argv)
    settings = SimulatorSettings(client_secret=secrets.token_urlsafe(24), max_limit=max(10_000, args.page_size))
    scratch = Path(tempfile.mkdtemp(prefix="sis_bench_extract_"))
    try:
        with SimulatorProcess(students=args.students, settings=settings) as simulator:
            write_integrations(scratch / "integrations.yaml", INTEGRATION, simulator, args.page_size)
            integration = load_config(scratch / "integrations.yaml").integration(INTEGRATION)
            for attempt in range(args.repeat):
                provider = open_provider(integration)
                try:
                    timed("extract", lambda: extract(provider, scratch / f"raw-{attempt}"))
                finally:
                    provider.close()
                shutil.rmtree(scratch / f"raw-{attempt}")
            timed("fetch floor", lambda: fetch_floor(
                simulator.oneroster_root("1.1"), simulator.token_url, (simulator.client_id, simulator.client_secret),
                dict(ENDPOINTS), args.page_size, provider.parallel,
            ))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
