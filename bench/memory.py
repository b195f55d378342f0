"""Peak memory of the normalise step, whole collections vs chunks, at several district sizes in one run.

    .venv/bin/python bench/memory.py --students 20000 100000

Per size: the simulator's district is extracted once (as `sis-pipeline sync` stages it), then the
normalise step runs on those same raw files in a fresh child process per path, and the child reports
its own peak RSS (getrusage ru_maxrss): `SIS_CHUNK_RECORDS=0` (each collection read whole, the old
path) and chunked. Both must produce the same row counts. `--profile` runs the chunked child under
pyinstrument and prints its top frames.
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INTEGRATION = "bench_district"


def progress(message: str) -> None:
    print(f"[memory {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def extract_district(students: int, page_size: int, scratch: Path) -> Path:
    """The district's raw collections staged under `scratch`; returns the handles file a child reads."""
    from _scratch import write_integrations
    from sis_pipeline.config import load_config
    from sis_pipeline.extract import extract
    from sis_pipeline.providers.oneroster import OneRosterProvider
    from sis_simulators.server import SimulatorProcess
    from sis_simulators.settings import SimulatorSettings

    settings = SimulatorSettings(client_secret=secrets.token_urlsafe(24), max_limit=max(10_000, page_size))
    with SimulatorProcess(students=students, settings=settings) as simulator:
        config_file = scratch / "integrations.yaml"
        write_integrations(config_file, INTEGRATION, simulator, page_size)
        provider = OneRosterProvider(load_config(config_file).integration(INTEGRATION))
        try:
            handles, _ = extract(provider, scratch / "raw")
        finally:
            provider.close()
    path = scratch / "handles.json"
    path.write_text(json.dumps({c: {"path": h["path"], "rows": h["rows"], "mode": h["mode"]} for c, h in handles.items()}))
    return path


def child(handles_file: str, out_dir: str, config_file: str) -> None:
    """One normalise step in this process; prints its peak RSS and counts as JSON."""
    from sis_pipeline.config import load_config
    from sis_pipeline.normalize.stage import normalize_integration
    from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    raw = json.loads(Path(handles_file).read_text())
    integration = load_config(Path(config_file)).integration(INTEGRATION)
    started = time.perf_counter()
    results = normalize_integration(integration, OneRosterNormalizer(), raw, Path(out_dir))
    print(json.dumps({
        "seconds": round(time.perf_counter() - started, 2),
        "rss_after_imports_mib": round(before / 1024, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows": {e: [r["valid"]["rows"], r["rejected"]["rows"]] for e, r in results.items()},
    }))


def run_child(handles: Path, scratch: Path, chunk: int, profile: bool) -> dict:
    out_dir = scratch / f"normalized-{chunk}"
    env = os.environ | {"SIS_CHUNK_RECORDS": str(chunk)}
    profiler = ["-m", "pyinstrument", "-r", "text", "-o", str(scratch / "profile.txt")] if profile else []
    runner = [sys.executable, *profiler]
    command = runner + [__file__, "--child", str(handles), str(out_dir), str(scratch / "integrations.yaml")]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"normalise child failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--chunk-records", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="also profile the chunked step at the largest size")
    parser.add_argument("--child", nargs=3, metavar=("HANDLES", "OUT_DIR", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    sizes = {}
    for students in args.students:
        scratch = Path(tempfile.mkdtemp(prefix="sis_bench_memory_"))
        try:
            progress(f"extracting a district of {students} students")
            handles = extract_district(students, args.page_size, scratch)
            records = sum(h["rows"] for h in json.loads(handles.read_text()).values())
            runs = {}
            for name, chunk in (("whole", 0), ("chunked", args.chunk_records)):
                progress(f"{students} students: normalising, {name}")
                runs[name] = run_child(handles, scratch, chunk, profile=False)
            if runs["whole"]["rows"] != runs["chunked"]["rows"]:
                raise RuntimeError(f"the paths disagree: {runs['whole']['rows']} vs {runs['chunked']['rows']}")
            if args.profile and students == max(args.students):
                progress(f"{students} students: profiling the chunked step")
                run_child(handles, scratch, args.chunk_records, profile=True)
                print((scratch / "profile.txt").read_text())
            sizes[students] = {"records": records, **runs}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    from _scratch import RESULTS_DIR, results_head, write_results  # here, not at the top: the measured child imports only what it needs

    results = results_head("memory") | {"chunk_records": args.chunk_records, "sizes": sizes}

    out = RESULTS_DIR / "memory.json"
    write_results(results, out)
    print(f"{'students':>9} {'records':>9} {'path':>8} {'peak RSS MiB':>13} {'after imports':>14} {'seconds':>8}")
    for students, item in sizes.items():
        for name in ("whole", "chunked"):
            run = item[name]
            print(f"{students:>9} {item['records']:>9} {name:>8} {run['peak_rss_mib']:>13} {run['rss_after_imports_mib']:>14} {run['seconds']:>8}")
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
