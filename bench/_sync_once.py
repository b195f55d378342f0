"""One sync in a process of its own, so its peak RSS is the sync's alone; suite.py runs it once per sync.

    .venv/bin/python bench/_sync_once.py CONFIG WAREHOUSE_URL STAGING_DIR MODE OUT_JSON

`sync_integrations` (what `sis-pipeline sync` runs) with an ephemeral Dagster instance of our own, so each
step's wall time can be read back from the run's event log. Writes its figures as JSON to OUT_JSON (stdout
belongs to Dagster's logging).
"""

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import dagster as dg

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TreeRss:
    """The sync's resident memory, this process and its children together (the normalise worker overlaps
    extraction only), sampled every 0.1 s from /proc: the peak of the sum, not the sum of the peaks."""

    def __init__(self):
        self.peak_kib = 0
        self.samples: list[tuple[float, int, int]] = []  # (epoch seconds, this process KiB, process and children KiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "TreeRss":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            own = _rss_kib(os.getpid())
            tree = own + sum(_rss_kib(pid) for pid in _children(os.getpid()))
            self.peak_kib = max(self.peak_kib, tree)
            self.samples.append((time.time(), own, tree))

    def by_step(self, windows: dict[str, tuple[float, float]]) -> dict:
        """Per step (its start and end, epoch seconds): the peak MiB of this process alone and of the tree, so
        a sync's peak can be put down to the step that reached it."""
        peaks = {}
        for step, (start, end) in windows.items():
            inside = [(own, tree) for moment, own, tree in self.samples if start <= moment <= end]
            if inside:
                peaks[step] = {"process": round(max(own for own, _ in inside) / 1024, 1),
                               "sync": round(max(tree for _, tree in inside) / 1024, 1)}
        return peaks


def _children(pid: int) -> list[int]:
    """Children of every thread (the worker is started from an extraction thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss(before_sync_kib: int, tree: TreeRss) -> dict:
    """MiB (ru_maxrss is KiB on Linux): this process's own peak, its normalise worker's (the largest of our
    children's), and the sampled peak of both at once, which is the sync's."""
    process = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"before_sync": round(before_sync_kib / 1024, 1), "process": round(process, 1),
            "normalise_worker": round(worker, 1), "sync": round(max(tree.peak_kib / 1024, process), 1)}


def metadata(instance: dg.DagsterInstance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None:
        return {}
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def sync_once(config_file: Path, warehouse_url: str, staging_dir: str, mode: str) -> dict:
    """`mode`: full, incremental, or reprocess (a full sync that normalises and loads even an unchanged delivery)."""
    config = load_config(config_file)
    [name] = [integration.name for integration in config.integrations]
    # What sync_instance() gives the CLI without DAGSTER_HOME; ours, so the step timings can be read back.
    instance = dg.DagsterInstance.ephemeral()
    rss_before_sync = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, started = cpu_seconds(), time.perf_counter()
    with TreeRss() as tree:
        report = sync_integrations(
            config, [name], mode="full" if mode == "reprocess" else mode, reprocess=mode == "reprocess",
            resources=build_resources(config, warehouse_url, staging_dir), instance=instance,
        )
    seconds = time.perf_counter() - started
    item = report["integrations"][name]
    result = {"status": item["status"], "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds() - cpu, 2)}
    if item["status"] != "success":
        return result | {"error": f"{item.get('error_class')}: {item.get('error')}"}
    raw = metadata(instance, "raw_rosters")
    stats = instance.get_run_step_stats(item["run_id"])
    steps = {s.step_key: round(s.end_time - s.start_time, 3) for s in stats}
    return result | {
        "run_id": item["run_id"],
        "entities": item["entities"],
        # the run matched this run's delivery byte for byte and was recorded without normalising or loading
        "unchanged_since": item.get("unchanged_since"),
        "steps": steps,
        "dagster_overhead": round(seconds - sum(steps.values()), 3),
        "fetched": {key.removeprefix("fetched_"): value for key, value in raw.items() if key.startswith("fetched_")},
        "api": {key.removeprefix("api_"): value for key, value in raw.items() if key.startswith("api_")},
        # how long normalising went on after the last page (normalize/streaming.py); None when it did not stream
        "normalize_tail_s": raw.get("normalized_after_last_page_s"),
        "resolved_students": metadata(instance, "resolved_rosters").get("students", 0),
        # ru_maxrss is KiB on Linux
        "peak_rss_mib": peak_rss(rss_before_sync, tree),
        "peak_rss_mib_by_step": tree.by_step({s.step_key: (s.start_time, s.end_time) for s in stats if s.start_time and s.end_time}),
    }


if __name__ == "__main__":
    config_file, warehouse_url, staging_dir, mode, out = sys.argv[1:]
    Path(out).write_text(json.dumps(sync_once(Path(config_file), warehouse_url, staging_dir, mode), default=str), encoding="utf-8")
