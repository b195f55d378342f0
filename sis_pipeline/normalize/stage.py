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
    """Per entity: handles of the valid and rejected datasets, and the counts a district reads."""
    frames: dict[str, pd.DataFrame] = {}
    results: dict[str, dict] = {}
    valid_ids: dict[str, pd.Index] = {}
    for position, entity in enumerate(ENTITIES):
        started = time.perf_counter()
        sources = normalizer.sources[entity]
        for collection in sources:
            if collection not in frames:
                frames[collection] = read_records(raw[collection]["path"], normalizer.schemas[collection])
        frame = normalizer.normalize(entity, {c: frames[c] for c in sources}, integration)
        frame, repeated = drop_repeated_records(frame)
        valid, reasons = validate(entity, frame)
        if entity == "enrollments":
            valid, reasons = _reject_orphans(valid, reasons, valid_ids)
        valid_ids[entity] = pd.Index(valid["source_id"])
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
            "valid": write_frame(out_dir / "valid" / f"{entity}.parquet", valid),
            "rejected": write_frame(out_dir / "rejected" / f"{entity}.parquet", rejected),
            "fetched": len(frames[sources[0]]),
            "repeated": repeated,
            "seconds": round(time.perf_counter() - started, 3),
        }
        still_needed = {c for later in ENTITIES[position + 1 :] for c in normalizer.sources[later]}
        for collection in set(frames) - still_needed:  # free what no later entity reads
            del frames[collection]
    return results


def _reject_orphans(valid: pd.DataFrame, reasons: pd.Series, valid_ids: dict[str, pd.Index]):
    """Enrollments must name a student or teacher and a section that this sync loads."""
    people = valid_ids["students"].append(valid_ids["teachers"])
    orphans = pd.concat(
        [
            orphan_reasons(valid, "user_source_id", people, "students or teachers"),
            orphan_reasons(valid, "section_source_id", valid_ids["sections"], "sections"),
        ]
    )
    if orphans.empty:
        return valid, reasons
    orphans = orphans.groupby(level=0).agg("; ".join)
    return valid.drop(index=orphans.index), pd.concat([reasons, orphans]).sort_index()
