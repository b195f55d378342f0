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


def extract(provider, out_dir: Path, since: datetime | None = None) -> dict[str, dict]:
    """Handles of the raw datasets of every delivered collection (with its mode), `provider.parallel` at a time."""
    modes = provider.collection_modes()
    delivered = [collection for collection in provider.collections if modes[collection] != "absent"]
    pool = ThreadPoolExecutor(max_workers=max(1, provider.parallel), thread_name_prefix="extract")
    try:
        futures = {c: pool.submit(extract_collection, provider, c, out_dir, since) for c in delivered}
        extracted = {collection: future.result() | {"mode": modes[collection]} for collection, future in futures.items()}
    except BaseException as exc:
        # An interrupted run (SIGTERM, a run terminated in Dagster) stops now: no collection not yet
        # started is fetched, and nobody waits here for the requests in flight (the caller closes the provider).
        pool.shutdown(wait=isinstance(exc, Exception), cancel_futures=not isinstance(exc, Exception))
        raise
    pool.shutdown()
    return extracted
