"""Step 1: every page of every collection, as it arrived (less any credential fields), into the run's staging folder."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sis_pipeline.delivery import page_digest, write_page_digests
from sis_pipeline.providers.common.changes import ChangeFilterUnavailable
from sis_pipeline.providers.common.http import REFUSED
from sis_pipeline.staging import RecordWriter

log = logging.getLogger(__name__)


def extract_collection(provider, collection: str, out_dir: Path, since: datetime | None = None, listener=None) -> dict | None:
    """The collection's staged dataset; None when the SIS refused a collection the provider declares optional.

    With `since`, only records modified at or after it are read; if the SIS refuses the change filter
    before any page came, the collection is read whole. The handle's `newest_change` is the newest
    modification time among the records (the SIS's clock), the candidate for its watermark. A `listener`
    (normalize/streaming.py) hears of every page on disk (with its digest, delivery.py) and of the collection's end.
    """
    started = time.perf_counter()
    # credential fields the provider declares (a OneRoster user's `password`) never reach the disk
    writer = RecordWriter(out_dir / f"{collection}.ndjson", getattr(provider, "secret_fields", ()))
    refused, newest, pages = None, None, []

    def stage(since: datetime | None) -> None:
        nonlocal newest
        for page in provider.iter_pages(collection, since=since):
            pages.append(page_digest(writer.write(page)))
            newest = _newer(newest, _newest_change(provider, collection, page))
            if listener is not None:
                writer.flush()
                listener.written(collection, writer.path, writer.rows, pages[-1])

    try:
        try:
            stage(since)
        except ChangeFilterUnavailable as why:
            if writer.rows:
                raise
            log.warning("%s %s: no change filter (%s); read whole, nothing archived", provider.integration.name, collection, why)
            since = None
            pages.clear()
            stage(None)
    except REFUSED as error:
        if collection not in getattr(provider, "optional_collections", ()):
            raise
        refused = error
    finally:
        result = writer.close()
    if listener is not None:
        listener.finished(collection, writer.path, None if refused is not None else result["rows"])
    if refused is not None:
        writer.path.unlink()
        log.warning(
            "%s %s: skipped, the SIS refused this optional enrichment (%s); the sync goes on without it",
            provider.integration.name, collection, refused,
        )
        return None
    result["pages_digest"] = write_page_digests(writer.path, pages)
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["since"], result["newest_change"] = since, newest
    log.info("%s %s: %d records in %.1fs", provider.integration.name, collection, result["rows"], result["seconds"])
    return result


def extract(
    provider, out_dir: Path, since: Mapping[str, datetime] | None = None, listener=None
) -> tuple[dict[str, dict], list[str]]:
    """Handles of the raw datasets of every delivered collection (with its mode), `provider.parallel` at a time,
    and the optional collections the SIS refused (skipped).

    `since` (an incremental run: per collection, where to read changes from) makes every collection a
    delta, whether filtered or read whole, so nothing is archived for being absent from it.
    `listener`: see extract_collection.
    """
    modes = provider.collection_modes()
    if since is not None:
        modes = {collection: "absent" if mode == "absent" else "delta" for collection, mode in modes.items()}
    delivered = [collection for collection in provider.collections if modes[collection] != "absent"]
    if listener is not None:
        listener.planned(modes)
    pool = ThreadPoolExecutor(max_workers=max(1, provider.parallel), thread_name_prefix="extract")
    try:
        futures = {c: pool.submit(extract_collection, provider, c, out_dir, (since or {}).get(c), listener) for c in delivered}
        results = {collection: future.result() for collection, future in futures.items()}
    except BaseException as exc:
        # An interrupted run (SIGTERM, a run terminated in Dagster) stops now: no collection not yet
        # started is fetched, and nobody waits here for the requests in flight (the caller closes the provider).
        pool.shutdown(wait=isinstance(exc, Exception), cancel_futures=not isinstance(exc, Exception))
        raise
    pool.shutdown()
    handles = {collection: result | {"mode": modes[collection]} for collection, result in results.items() if result is not None}
    return handles, [collection for collection, result in results.items() if result is None]


def _newer(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    return candidate if current is None or candidate > current else current


def _newest_change(provider, collection: str, page: list[dict]) -> datetime | None:
    """A plugin written before watermarks existed has no `newest_change`: its collections keep none."""
    newest_change = getattr(provider, "newest_change", None)
    return newest_change(collection, page) if newest_change else None
