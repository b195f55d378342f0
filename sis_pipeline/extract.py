"""Step 1: every page of every collection, as it arrived, into the run's staging folder."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sis_pipeline.staging import RecordWriter

log = logging.getLogger(__name__)


def extract_collection(provider, collection: str, out_dir: Path, since: datetime | None = None) -> dict:
    started = time.perf_counter()
    writer = RecordWriter(out_dir / f"{collection}.ndjson")
    try:
        for page in provider.iter_pages(collection, since=since):
            writer.write(page)
    finally:
        result = writer.close()
    result["seconds"] = round(time.perf_counter() - started, 3)
    log.info("%s %s: %d records in %.1fs", provider.integration.name, collection, result["rows"], result["seconds"])
    return result


def extract(provider, out_dir: Path, since: datetime | None = None, parallel: int = 1) -> dict[str, dict]:
    """Handles of the raw datasets, one per collection; collections are fetched `parallel` at a time."""
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="extract") as pool:
        futures = {c: pool.submit(extract_collection, provider, c, out_dir, since) for c in provider.collections}
        return {collection: future.result() for collection, future in futures.items()}
