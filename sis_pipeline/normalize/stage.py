"""Step 2: raw datasets → canonical, validated frames per entity, with rejected rows kept aside."""

import logging
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import chunks
from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD, MAX_INDEXED_CHARS, input_reasons, repeated_records
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.normalize.reason_patterns import reason_patterns
from sis_pipeline.normalize.related import NOT_DELIVERED, Lookup, id_set, text_ids
from sis_pipeline.normalize.validate import orphan_reasons, validate
from sis_pipeline.normalize.records import read_records
from sis_pipeline.normalize.warnings import value_warnings
from sis_pipeline.staging import read_lines, write_frame

log = logging.getLogger(__name__)

REJECTED_COLUMNS = ["source_id", "reasons", "payload"]
# A run rejecting more records than this keeps the payloads (as sent) of only the first few per reason
# pattern: a source sending a million bad rows must not put a million payloads in memory and the warehouse.
ALL_PAYLOADS_UP_TO = 10_000
PAYLOADS_PER_REASON = 100


def normalize_integration(
    integration: IntegrationConfig,
    normalizer,
    raw: dict[str, dict],
    out_dir: Path,
    today: date | None = None,
    *,
    newest_wins: bool = False,
    chunk_records: int | None = None,
) -> dict[str, dict]:
    """Per delivered entity: handles of the valid and rejected datasets, its mode, and the counts a district reads.

    `today` is the run's date (UTC by default): a birth date after it is rejected. `newest_wins` (an
    incremental run) keeps only the newest version of a record read twice (it changed while the SIS was
    being paged, or a look-back read it again); otherwise differing versions are all rejected.
    `chunk_records` (default `SIS_CHUNK_RECORDS`) records are normalised at a time, so memory stays flat
    as districts grow (chunked.py); 0 reads each collection whole, the path below, kept as the baseline
    the chunked one must equal.
    """
    today = today or datetime.now(UTC).date()
    size = chunks.chunk_records() if chunk_records is None else chunk_records
    if size:
        # imported here: chunked.py builds on this module's helpers (newest_versions, _reject_orphans, ...)
        from sis_pipeline.normalize.chunked import normalize_chunked

        return normalize_chunked(integration, normalizer, raw, out_dir, today, newest_wins=newest_wins, size=size)
    frames: dict[str, pd.DataFrame] = {}
    results: dict[str, dict] = {}
    complete_ids: dict[str, Lookup] = {}  # ids of entities delivered in bulk: references into them can be checked
    delivered = [entity for entity in ENTITIES if normalizer.sources[entity][0] in raw]
    modes = {collection: handle["mode"] for collection, handle in raw.items()}
    for position, entity in enumerate(delivered):
        started = time.perf_counter()
        sources = normalizer.sources[entity]
        for collection in sources:
            if collection not in frames:
                frames[collection] = _read(raw, collection, normalizer.schemas[collection])
        records = {c: frames[c] for c in sources}
        frame = normalizer.normalize(entity, records, integration)
        reasons = input_reasons(frame, _raw_errors(frames[sources[0]], normalizer.unreadable_related(entity, records)), today)
        candidates = frame.drop(index=reasons.index)
        if newest_wins:
            candidates = newest_versions(candidates)
        checked, repeated, conflicts = repeated_records(candidates)
        valid, invalid = validate(entity, checked)
        reasons = pd.concat([reasons, conflicts, invalid]).sort_index()
        if entity == "enrollments":
            valid, reasons = _reject_orphans(valid, reasons, complete_ids)
        mode = raw[sources[0]]["mode"]
        if mode == "bulk":  # a rejected record still exists: referring to it is not an orphan
            complete_ids[entity] = id_set([text_ids(frame["source_id"])])
        kept = normalizer.not_delivered(entity, records, modes).reindex(valid.index)
        kept_columns = sorted({name for names in kept.dropna().unique() for name in names.split(",")})
        if kept_columns:
            log.warning(
                "%s/%s: %s not delivered for %d records; the warehouse keeps its values",
                integration.name, entity, ", ".join(kept_columns), kept.notna().sum(),
            )
        payloads = read_lines(raw[sources[0]]["path"], payload_positions(reasons))
        rejected = pd.DataFrame(
            {
                "source_id": frame.loc[reasons.index, "source_id"].str.slice(0, MAX_INDEXED_CHARS).values,
                "reasons": reasons.values,
                "payload": [payloads.get(i) for i in reasons.index],
            },
            columns=REJECTED_COLUMNS,
        )
        results[entity] = {
            "mode": mode,
            "valid": write_frame(out_dir / "valid" / f"{entity}.parquet", valid.assign(**{NOT_DELIVERED: kept})),
            "rejected": write_frame(out_dir / "rejected" / f"{entity}.parquet", rejected),
            "fetched": len(frames[sources[0]]),
            "repeated": repeated,
            "kept_columns": kept_columns,
            "kept_rows": int(kept.notna().sum()),
            "warnings": value_warnings(normalizer, entity, frames[sources[0]], frame.loc[valid.index], kept),
            "seconds": round(time.perf_counter() - started, 3),
        }
        still_needed = {c for later in delivered[position + 1 :] for c in normalizer.sources[later]}
        for collection in set(frames) - still_needed:  # free what no later entity reads
            del frames[collection]
    return results


def payload_positions(reasons: pd.Series) -> pd.Index:
    """The rejected records whose payloads are kept: all of them, or past ALL_PAYLOADS_UP_TO the first few per reason."""
    if len(reasons) <= ALL_PAYLOADS_UP_TO:
        return reasons.index
    patterns = reason_patterns(reasons)
    return reasons.index[(patterns.groupby(patterns).cumcount() < PAYLOADS_PER_REASON).to_numpy()]


def newest_versions(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per source id: the one modified last (the later-read one when the times are equal)."""
    ids = frame["source_id"]
    if not ids.duplicated().any():
        return frame
    order = frame.assign(_position=range(len(frame))).sort_values(["source_updated_at", "_position"], na_position="first")
    keep = order.index[~order["source_id"].duplicated(keep="last") | order["source_id"].isna()]
    return frame.loc[frame.index.isin(keep)]


def _raw_errors(raw: pd.DataFrame, related: pd.Series) -> pd.Series:
    """Why the provider could not trust a raw record, or a related record it joins, where it said so."""
    own = raw[INPUT_ERROR_FIELD].dropna().astype(str) if INPUT_ERROR_FIELD in raw else pd.Series(dtype=object)
    found = pd.concat([own, related]) if len(related) else own
    return found.groupby(level=0).agg("; ".join) if len(found) else found


def _read(raw: dict[str, dict], collection: str, schema) -> pd.DataFrame:
    """A delivered collection's records; an undelivered related collection reads as no records."""
    if collection not in raw:
        return pd.DataFrame({field: pd.Series(dtype=object) for field in schema.names})
    return read_records(raw[collection]["path"], schema)


def _reject_orphans(valid: pd.DataFrame, reasons: pd.Series, complete_ids: dict[str, Lookup]):
    """Enrollments must name a student or teacher and a section that this sync delivers.

    Only references into entities delivered in full are checked: a delta file's enrollment may name
    a student the warehouse already holds.
    """
    checks = []
    if "students" in complete_ids and "teachers" in complete_ids:
        people = [complete_ids["students"], complete_ids["teachers"]]
        checks.append(orphan_reasons(valid, "user_source_id", people, "students or teachers"))
    if "sections" in complete_ids:
        checks.append(orphan_reasons(valid, "section_source_id", [complete_ids["sections"]], "sections"))
    orphans = pd.concat(checks) if checks else pd.Series(dtype=object)
    if orphans.empty:
        return valid, reasons
    orphans = orphans.groupby(level=0).agg("; ".join)
    return valid.drop(index=orphans.index), pd.concat([reasons, orphans]).sort_index()
