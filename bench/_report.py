"""The suite's figures derived from its phases (ratios, targets, records/s per stage), and the table a person reads."""

PHASES = {
    "full_sync": "full sync",
    "resync": "re-sync (unchanged)",
    "resync_reprocessed": "re-sync, --reprocess",
    "incremental": "1% incremental",
    "fetch_floor": "(a) fetch floor, httpx",
    "copy_floor": "(b) COPY floor",
    "dlt": "(c) dlt rest_api",
}
SYNCS = ("full_sync", "resync", "resync_reprocessed", "incremental")
# Issue 12's targets: (ratio, label, comparison, bound, the district size the issue sets it for; None: every size)
TARGETS = (
    ("full_vs_fetch_plus_copy", "full / (fetch + COPY)", "<=", 2.0, 100_000),
    ("dlt_vs_full", "dlt / full", ">=", 3.0, 100_000),
    ("full_vs_fetch", "full / fetch", "<=", 2.5, 1_000_000),
    ("resync_vs_full", "re-sync / full", "<=", 0.60, None),
    ("reprocessed_resync_vs_full", "re-sync --reprocess / full", None, None, None),
    ("incremental_vs_full", "incremental / full", None, None, None),
    ("full_peak_rss_mib", "full sync peak RSS, MiB", "<=", 1536, 1_000_000),
)


def _records_of_step(step: str, result: dict) -> int | None:
    """What each step works through: records fetched up to normalising, students in resolve, rows in the load
    (the warehouse's rows in a full sync); None for the checks that follow the load."""
    if step in ("raw_rosters", "normalized_rosters"):
        return sum(result["fetched"].values())
    if step == "resolved_rosters":
        return result["resolved_students"]
    if step == "warehouse_tables":
        return sum(counts["valid"] for counts in result["entities"].values())
    return None


def stage_rates(phases: dict) -> dict:
    """Per sync, per step: seconds, records and records/s from the step's wall time in Dagster's event log."""
    rates = {}
    for key in SYNCS:
        result = phases[key]
        rates[key] = {}
        for step, seconds in result["steps"].items():
            records = _records_of_step(step, result)
            rates[key][step] = {"seconds": seconds, "records": records, "records_per_s": round(records / seconds) if records is not None and seconds else None}
    return rates


def ratios_and_targets(results: dict) -> dict:
    phases = results["phases"]
    seconds = {key: phase["seconds"] for key, phase in phases.items()}
    full = seconds["full_sync"]
    ratios = {
        "full_vs_fetch_plus_copy": full / (seconds["fetch_floor"] + seconds["copy_floor"]),
        "dlt_vs_full": seconds["dlt"] / full if "dlt" in seconds else None,
        "full_vs_fetch": full / seconds["fetch_floor"],
        "resync_vs_full": seconds["resync"] / full,
        "reprocessed_resync_vs_full": seconds["resync_reprocessed"] / full,
        "incremental_vs_full": seconds["incremental"] / full,
    }
    ratios = {name: None if value is None else round(value, 3) for name, value in ratios.items()}
    values = ratios | {"full_peak_rss_mib": phases["full_sync"]["peak_rss_mib"]["sync"]}
    targets = {}
    for name, _, comparison, bound, size in TARGETS:
        if comparison is None or values[name] is None:
            continue
        met = values[name] <= bound if comparison == "<=" else values[name] >= bound
        targets[name] = {"value": values[name], "target": f"{comparison} {bound}", "issue_size": size, "met": met}
    return {"ratios": ratios, "targets": targets}


def _phase_row(key: str, phase: dict) -> str:
    rss = phase["peak_rss_mib"].get("sync", phase["peak_rss_mib"].get("process")) if isinstance(phase["peak_rss_mib"], dict) else phase["peak_rss_mib"]
    load = phase["load_1m"]
    rate = phase["records"] / phase["seconds"] if phase["seconds"] else 0
    return (f"| {PHASES[key]} | {phase['seconds']:.2f} | {phase['records']:,} | {rate:,.0f} | {rss:,.0f} | "
            f"{load['start']} → {load['end']} |")


def _target_row(name: str, label: str, value, target: dict | None) -> str:
    shown = "-" if value is None else (f"{value:,.0f}" if name == "full_peak_rss_mib" else f"{value:.2f}")
    if target is None:
        return f"| {label} | {shown} | | | |"
    size = f"{target['issue_size']:,} students" if target["issue_size"] else "every size"
    return f"| {label} | {shown} | {target['target']} | {size} | {'MET' if target['met'] else 'NOT MET'} |"


def _step_cell(rate: dict | None) -> str:
    if rate is None:
        return "-"
    return f"{rate['seconds']:.2f}" + ("" if rate["records_per_s"] is None else f" ({rate['records_per_s']:,}/s)")


def format_size(results: dict, integration: str) -> str:
    machine, phases = results["machine"], results["phases"]
    lines = [
        f"## suite: {results['students']:,} students, page size {results['page_size']}",
        "",
        f"{machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB, PostgreSQL {machine['postgresql']}, "
        f"Python {machine['python']}, {machine['date']}. Compare within this run only.",
        "",
        "| phase | seconds | records | records/s | peak RSS MiB | load 1m |",
        "|---|---:|---:|---:|---:|---|",
        *(_phase_row(key, phases[key]) for key in PHASES if key in phases),
        "",
        "| ratio | value | target | issue sets it for | |",
        "|---|---:|---|---|---|",
    ]
    values = results["ratios"] | {"full_peak_rss_mib": phases["full_sync"]["peak_rss_mib"]["sync"]}
    lines += [_target_row(name, label, values[name], results["targets"].get(name)) for name, label, *_ in TARGETS]
    lines += ["", "| step: seconds (records/s) | " + " | ".join(PHASES[key] for key in SYNCS) + " |", "|---|" + "---:|" * len(SYNCS)]
    rates = results["stage_rates"]
    for step in rates["full_sync"]:
        cells = [_step_cell(rates[key].get(step)) for key in SYNCS]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| dagster_overhead | " + " | ".join(f"{phases[key]['dagster_overhead']:.2f}" for key in SYNCS) + " |")
    by_step = phases["full_sync"].get("peak_rss_mib_by_step")
    if by_step:
        lines += ["", "Full sync peak RSS by step, MiB (this process / with the normalise worker): "
                  + ", ".join(f"{step} {peak['process']:,.0f} / {peak['sync']:,.0f}" for step, peak in by_step.items()) + "."]
    changes = results["changes"]
    lines += [
        "",
        "Records: fetched for the syncs and the fetch floor; rows in dlt's collection tables; rows COPYed for the COPY floor. "
        "Peak RSS: each phase's own process. Steps: raw and normalized count records fetched, resolved students, "
        "warehouse_tables the rows it was given (all rows in a full sync); the checks after the load have no count.",
        f"Checked: warehouse rows = simulator totals; COPY rows = the sync's rows; fetch and dlt counts = totals; "
        f"re-sync wrote 0 rows and was recorded as unchanged, the reprocessed one compared every row and wrote 0 too; the incremental wrote exactly the {changes['students']} changed students "
        f"({changes['renamed']} renamed, {changes['tobedeleted']} tobedeleted) and no other row.",
    ]
    if "dlt" in phases:
        made = phases["dlt"]["tables_made"]
        lines.append(f"dlt {phases['dlt']['dlt_version']} made {len(made)} tables with its default nesting: "
                     + ", ".join(f"{name} {rows:,}" for name, rows in made.items()))
    return "\n".join(lines)


def across_sizes(measured: list[dict]) -> str:
    """The full sync's peak RSS from size to size: issue 12 wants it flat from 100,000 to 1,000,000 students."""
    shown = [f"{r['students']:,}: {r['phases']['full_sync']['peak_rss_mib']['sync']:,.0f} MiB" for r in measured]
    first, last = measured[0]["phases"]["full_sync"]["peak_rss_mib"]["sync"], measured[-1]["phases"]["full_sync"]["peak_rss_mib"]["sync"]
    return f"full sync peak RSS across sizes: {', '.join(shown)} ({last / first:.2f}x from smallest to largest)"
