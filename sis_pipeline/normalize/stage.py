"""Step 2: raw datasets → canonical, validated frames per entity, with rejected rows kept aside."""

import time
from pathlib import Path

import pandas as pd

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.normalize.validate import drop_repeated_records, orphan_reasons, validate
from sis_pipeline.normalize.records import read_records
from sis_pipeline.staging import read_lines, write_frame

REJECTED_COLUMNS = ["source_id", "reasons", "payload"]


def normalize_integration(integration: IntegrationConfig, normalizer, raw: dict[str, dict], out_dir: Path) -> dict[str, dict]:
    """Per delivered entity: handles of the valid and rejected datasets, its mode, and the counts a district reads."""
    frames: dict[str, pd.DataFrame] = {}
    results: dict[str, dict] = {}
    complete_ids: dict[str, pd.Index] = {}  # ids of entities delivered in bulk: references into them can be checked
    delivered = [entity for entity in ENTITIES if normalizer.sources[entity][0] in raw]
    for position, entity in enumerate(delivered):
        started = time.perf_counter()
        sources = normalizer.sources[entity]
        for collection in sources:
            if collection not in frames:
                frames[collection] = _read(raw, collection, normalizer.schemas[collection])
        frame = normalizer.normalize(entity, {c: frames[c] for c in sources}, integration)
        frame, repeated = drop_repeated_records(frame)
        valid, reasons = validate(entity, frame)
        if entity == "enrollments":
            valid, reasons = _reject_orphans(valid, reasons, complete_ids)
        mode = raw[sources[0]]["mode"]
        if mode == "bulk":  # a rejected record still exists: referring to it is not an orphan
            complete_ids[entity] = pd.Index(frame["source_id"].dropna())
        payloads = read_lines(raw[sources[0]]["path"], reasons.index)
        rejected = pd.DataFrame(
            {
                "source_id": frame.loc[reasons.index, "source_id"].values,
                "reasons": reasons.values,
                "payload": [payloads[i] for i in reasons.index],
            },
            columns=REJECTED_COLUMNS,
        )
        results[entity] = {
            "mode": mode,
            "valid": write_frame(out_dir / "valid" / f"{entity}.parquet", valid),
            "rejected": write_frame(out_dir / "rejected" / f"{entity}.parquet", rejected),
            "fetched": len(frames[sources[0]]),
            "repeated": repeated,
            "seconds": round(time.perf_counter() - started, 3),
        }
        still_needed = {c for later in delivered[position + 1 :] for c in normalizer.sources[later]}
        for collection in set(frames) - still_needed:  # free what no later entity reads
            del frames[collection]
    return results


def _read(raw: dict[str, dict], collection: str, schema) -> pd.DataFrame:
    """A delivered collection's records; an undelivered related collection reads as no records."""
    if collection not in raw:
        return pd.DataFrame({field: pd.Series(dtype=object) for field in schema.names})
    return read_records(raw[collection]["path"], schema)


def _reject_orphans(valid: pd.DataFrame, reasons: pd.Series, complete_ids: dict[str, pd.Index]):
    """Enrollments must name a student or teacher and a section that this sync delivers.

    Only references into entities delivered in full are checked: a delta file's enrollment may name
    a student the warehouse already holds.
    """
    checks = []
    if "students" in complete_ids and "teachers" in complete_ids:
        people = complete_ids["students"].append(complete_ids["teachers"])
        checks.append(orphan_reasons(valid, "user_source_id", people, "students or teachers"))
    if "sections" in complete_ids:
        checks.append(orphan_reasons(valid, "section_source_id", complete_ids["sections"], "sections"))
    orphans = pd.concat(checks) if checks else pd.Series(dtype=object)
    if orphans.empty:
        return valid, reasons
    orphans = orphans.groupby(level=0).agg("; ".join)
    return valid.drop(index=orphans.index), pd.concat([reasons, orphans]).sort_index()
