"""The benchmark figures the README and docs/benchmarks.md quote are the committed results' figures."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def suite(size: int) -> dict:
    return json.loads((RESULTS / f"suite-{size}.json").read_text())


def seconds(size: int, phase: str) -> float:
    return suite(size)["phases"][phase]["seconds"]


def test_the_readme_quotes_the_committed_suite():
    readme = " ".join((ROOT / "README.md").read_text().split())
    quoted = re.search(
        r"a 100,000-student full sync in (\d+) s against a (\d+) s fetch floor, a (\d+) s COPY floor and dlt's (\d+) s; "
        r"a million students in (\d+) s \(fetch floor (\d+) s\), peak RSS ([\d.]+) GB",
        readme,
    )
    assert quoted, "the README's benchmark sentence moved: update this test with it"
    figures = [int(quoted[n]) for n in range(1, 7)]
    assert figures == [
        round(seconds(100_000, "full_sync")), round(seconds(100_000, "fetch_floor")), round(seconds(100_000, "copy_floor")),
        round(seconds(100_000, "dlt")), round(seconds(1_000_000, "full_sync")), round(seconds(1_000_000, "fetch_floor")),
    ]
    assert float(quoted[7]) == round(suite(1_000_000)["phases"]["full_sync"]["peak_rss_mib"]["sync"] / 1024, 1)
    resyncs = re.search(
        r"An unchanged re-sync, recorded on the last load, took (\d+) s and (\d+) s \(([\d.]+) and ([\d.]+) of the full sync\); "
        r"with `--reprocess` (\d+) s and (\d+) s",
        readme,
    )
    assert resyncs, "the README's re-sync sentence moved: update this test with it"
    assert [int(resyncs[n]) for n in (1, 2, 5, 6)] == [
        round(seconds(size, phase)) for phase in ("resync", "resync_reprocessed") for size in (100_000, 1_000_000)
    ]
    assert [float(resyncs[3]), float(resyncs[4])] == [round(suite(size)["ratios"]["resync_vs_full"], 2) for size in (100_000, 1_000_000)]


def test_the_latest_benchmarks_table_quotes_the_committed_suite():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    latest = text[text.index("## Issue 12, latest"):text.index("## Issue 12, stop 12")]
    rows = {
        "full sync": "full_sync", "re-sync, unchanged, 0 rows written": "resync",
        "re-sync with `--reprocess`, 0 rows written": "resync_reprocessed", "1% incremental": "incremental",
        "(a) fetch floor, plain httpx": "fetch_floor", "(b) COPY floor, indexed tables": "copy_floor",
        "(c) dlt `rest_api`, csv loader": "dlt",
    }
    for label, phase in rows.items():
        cells = next(line for line in latest.splitlines() if line.startswith(f"| {label} |")).strip("|").split("|")[1:]
        for size, cell in zip((10_000, 100_000, 1_000_000), cells):
            cell = cell.strip()
            if cell == "not run":
                assert phase not in suite(size)["phases"]
                continue
            assert float(cell.split(" ")[0]) == round(seconds(size, phase), 2), (label, size)
            if "(" in cell:
                assert int(cell.split("(")[1].rstrip(")").replace(",", "")) == round(suite(size)["phases"][phase]["peak_rss_mib"]["sync"])
