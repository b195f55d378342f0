"""What an incremental run reads, and which watermarks its load may record: decided here, for every provider.

An incremental run reads each collection the provider can filter from its watermark less the
integration's look-back (records a SIS committed late with an earlier stamp come again, and the
load writes nothing for those that did not change); a collection without a watermark or without a
change filter is read whole. Either way nothing is archived for being absent: only a full sync does that.
"""

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

log = logging.getLogger(__name__)


def plan_since(
    provider, watermarks: Mapping[str, datetime], lookback_seconds: int
) -> tuple[dict[str, datetime], list[str]]:
    """(collection -> read changes from, collections read whole), and one log line per collection read whole."""
    filtered = set(getattr(provider, "change_filtered", ()))
    lookback = timedelta(seconds=lookback_seconds)
    since, whole = {}, []
    for collection in provider.collections:
        if collection in filtered and collection in watermarks:
            since[collection] = watermarks[collection] - lookback
            continue
        whole.append(collection)
        why = "this SIS offers no change filter for it" if collection not in filtered else "it has no watermark yet"
        log.info("%s %s: read whole in this incremental run (%s); nothing is archived", provider.integration.name, collection, why)
    return since, whole


def committable_watermarks(
    sources: Mapping[str, tuple[str, ...]], newest: Mapping[str, datetime | None], rejected: Mapping[str, int]
) -> dict[str, datetime]:
    """Per raw collection, the newest change its load may record as the watermark.

    `sources` is the normaliser's entity -> raw collections it reads; `newest` each collection's newest
    change (None: its records carry no time); `rejected` the rows rejected per normalised entity. A
    collection that fed a rejected row records nothing: the rejected record must be read again.
    """
    committable = {}
    for collection, moment in newest.items():
        if moment is None:
            continue
        fed = [entity for entity, reads in sources.items() if collection in reads and entity in rejected]
        if all(rejected[entity] == 0 for entity in fed):
            committable[collection] = moment
    return committable
