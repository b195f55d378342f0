"""One sync in a process of its own, so its peak RSS is the sync's alone; suite.py runs it once per sync.

    .venv/bin/python bench/_sync_once.py CONFIG WAREHOUSE_URL STAGING_DIR MODE OUT_JSON

`sync_integrations` (what `sis-pipeline sync` runs) with an ephemeral Dagster instance of our own, so each
step's wall time can be read back from the run's event log. Writes its figures as JSON to OUT_JSON (stdout
belongs to Dagster's logging).
"""

import json
import resource
import sys
import time
from pathlib import Path

import dagster as dg

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss(before_sync_kib: int) -> dict:
    """MiB (ru_maxrss is KiB on Linux). The sync's peak counts its normalise worker (normalize/streaming.py), a
    child process whose own peak is the largest of our children's: added, an upper bound of the two at once."""
    process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"before_sync": round(before_sync_kib / 1024, 1), "process": round(process, 1),
            "normalise_worker": round(worker, 1), "sync": round(process + worker, 1)}


def metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return {}
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def sync_once(config_file: Path, warehouse_url: str, staging_dir: str, mode: str) -> dict:
    config = load_config(config_file)
    [name] = [integration.name for integration in config.integrations]
    # What sync_instance() gives the CLI without DAGSTER_HOME; ours, so the step timings can be read back.
    instance = dg.DagsterInstance.ephemeral()
    rss_before_sync = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, started = cpu_seconds(), time.perf_counter()
    report = sync_integrations(config, [name], mode=mode, resources=build_resources(config, warehouse_url, staging_dir), instance=instance)
    seconds = time.perf_counter() - started
    item = report["integrations"][name]
    result = {"status": item["status"], "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds() - cpu, 2)}
    if item["status"] != "success":
        return result | {"error": f"{item.get('error_class')}: {item.get('error')}"}
    raw = metadata(instance, "raw_rosters")
    steps = {s.step_key: round(s.end_time - s.start_time, 3) for s in instance.get_run_step_stats(item["run_id"])}
    return result | {
        "run_id": item["run_id"],
        "entities": item["entities"],
        "steps": steps,
        "dagster_overhead": round(seconds - sum(steps.values()), 3),
        "fetched": {key.removeprefix("fetched_"): value for key, value in raw.items() if key.startswith("fetched_")},
        "api": {key.removeprefix("api_"): value for key, value in raw.items() if key.startswith("api_")},
        "resolved_students": metadata(instance, "resolved_rosters").get("students", 0),
        # ru_maxrss is KiB on Linux
        "peak_rss_mib": peak_rss(rss_before_sync),
    }


if __name__ == "__main__":
    config_file, warehouse_url, staging_dir, mode, out = sys.argv[1:]
    Path(out).write_text(json.dumps(sync_once(Path(config_file), warehouse_url, staging_dir, mode), default=str), encoding="utf-8")
