"""The benchmark's results as a table a person reads; the JSON holds the same numbers."""

from sis_pipeline.cli import format_report

PHASES = {
    "full_sync": "full sync",
    "resync": "re-sync (unchanged)",
    "fetch_floor": "(a) fetch floor",
    "copy_floor": "(b) COPY floor",
}


def _ratio(seconds: float, floor: float) -> str:
    return f"{seconds / floor:.1f}x" if floor else "-"


def format_results(results: dict, integration: str) -> str:
    phases = results["phases"]
    fetch, copy = phases["fetch_floor"]["seconds"], phases["copy_floor"]["seconds"]
    machine = results["machine"]
    lines = [
        f"full_sync: {results['students']:,} students, page size {results['page_size']}, "
        f"{machine['cpus']} CPUs, PostgreSQL {machine['postgresql']}",
        f"load average (1 min) {machine['load_average_1m']['start']} at start, {machine['load_average_1m']['end']} at end: "
        "anything else running shifts every number",
        "",
        f"{'phase':<22}{'seconds':>9}{'records':>11}{'records/s':>11}{'vs fetch':>10}{'vs COPY':>9}{'client CPU s':>14}",
    ]
    for key, label in PHASES.items():
        phase = phases[key]
        seconds, records = phase["seconds"], results["records"].get(key, phase.get("records"))
        cpu = "-" if phase.get("cpu_seconds") is None else f"{phase['cpu_seconds']:.1f}"
        lines.append(
            f"{label:<22}{seconds:>9.2f}{records:>11,}{records / seconds:>11,.0f}"
            f"{_ratio(seconds, fetch):>10}{_ratio(seconds, copy):>9}{cpu:>14}"
        )
    full, resync = phases["full_sync"], phases["resync"]
    lines += ["", f"{'step (seconds)':<22}{'full sync':>11}{'re-sync':>11}"]
    for step in full["steps"]:
        lines.append(f"{step:<22}{full['steps'][step]:>11.2f}{resync['steps'].get(step, 0):>11.2f}")
    api, rss, simulator = full["api"], results["peak_rss_mib"], results["simulator"]
    summary = {"status": "success", "seconds": round(full["seconds"], 2), "entities": full["entities"]}
    lines += [
        "",
        f"full sync API: {api['requests']} requests, latency p50 {api['latency_p50_ms']} ms, "
        f"p95 {api['latency_p95_ms']} ms, {api['bytes'] / 2**20:.0f} MiB",
        f"peak RSS: {rss['before_sync']} MiB before the sync, {rss['after_full_sync']} MiB after the full sync, "
        f"{rss['benchmark']} MiB for the whole benchmark",
        f"simulator process, all phases: {simulator['cpu_seconds']} CPU s, peak RSS {simulator['peak_rss_mib']} MiB",
        "",
        "full sync, per entity (as `sis-pipeline sync` prints it):",
        format_report({"integrations": {integration: summary}}),
    ]
    return "\n".join(lines)
