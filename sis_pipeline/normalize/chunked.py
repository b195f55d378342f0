"""Step 2 in bounded memory: each entity's own records normalised, checked and validated a chunk at a time.

The result is the whole-collection path's (stage.py), row for row and reason for reason. Per entity:

1. Each chunk of raw records is normalised and checked record by record (`input_reasons`). The rows
   left (candidates) are spilled to a private file of the run; only their source ids' 64-bit hashes and
   positions stay in memory.
2. Source ids whose hash occurs twice are the only rows cross-record rules can touch. Those rows (all
   copies of every repeated id, plus any hash collision, which the exact rules then leave alone) are
   read back and settled by the same functions the whole path uses (`newest_versions`,
   `repeated_records`), so identical copies collapse and differing versions are rejected exactly as before.
3. Each spilled chunk, less the rows settled away, is validated, checked for orphans and appended to
   the entity's Parquet. Per-chunk validation equals whole-frame validation once no non-null id repeats:
   pandera's only cross-row check is source_id's uniqueness, and it does not count missing ids.

What stays in memory across chunks: the hashes (16 bytes per record), the ids of students, teachers and
sections delivered in bulk (for enrollments' orphan check), the rejected rows' reasons, and the related
collections an entity joins (declared fields only, see chunks.read_related).
"""

import logging
import pickle
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import stage as whole
from sis_pipeline.normalize.checks import MAX_INDEXED_CHARS, input_reasons, repeated_records
from sis_pipeline.normalize.chunks import MixedTypes, iter_records, read_related
from sis_pipeline.normalize.models import ENTITIES, MODELS
from sis_pipeline.normalize.related import NOT_DELIVERED
from sis_pipeline.normalize.validate import validate
from sis_pipeline.normalize.warnings import dropped_counts, sent_flags, warnings_from_counts
from sis_pipeline.staging import FrameWriter, open_private, read_lines, write_frame

log = logging.getLogger(__name__)

# Enrollments name these entities; their ids are kept (when delivered in bulk) to find orphans.
REFERENCED = ("students", "teachers", "sections")
_ARROW_TYPES = {"str": pa.string(), "boolean": pa.bool_(), "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC")}


def valid_schema(entity: str) -> pa.Schema:
    """The Arrow schema of an entity's valid dataset: its model's columns, then the not-delivered marks."""
    columns = MODELS[entity].to_schema().columns
    return pa.schema([(name, _ARROW_TYPES[str(column.dtype)]) for name, column in columns.items()] + [(NOT_DELIVERED, pa.string())])


@dataclass
class _Spilled:
    """What the first pass over an entity's records leaves: spill files and small per-record keys."""

    files: list[Path] = field(default_factory=list)
    fetched: int = 0
    reasons: list[pd.Series] = field(default_factory=list)
    rejected_ids: list[pd.Series] = field(default_factory=list)  # source_id of each rejected row, by position
    hashes: list[np.ndarray] = field(default_factory=list)
    positions: list[np.ndarray] = field(default_factory=list)
    ids: list[pd.Series] = field(default_factory=list)  # every record's id, for later orphan checks


def normalize_chunked(
    integration: IntegrationConfig,
    normalizer,
    raw: dict[str, dict],
    out_dir: Path,
    today: date,
    *,
    newest_wins: bool,
    size: int,
) -> dict[str, dict]:
    """`normalize_integration`'s result, computed `size` records at a time (see the module's docstring)."""
    results: dict[str, dict] = {}
    complete_ids: dict[str, pd.Index] = {}
    related_frames: dict[str, pd.DataFrame] = {}
    delivered = [entity for entity in ENTITIES if normalizer.sources[entity][0] in raw]
    modes = {collection: handle["mode"] for collection, handle in raw.items()}
    context = _Context(integration, normalizer, raw, modes, today, newest_wins, size)
    for position, entity in enumerate(delivered):
        started = time.perf_counter()
        sources = normalizer.sources[entity]
        for collection in sources[1:]:
            if collection not in related_frames:
                related_frames[collection] = _related(raw, collection, normalizer.schemas[collection], size)
        related = {collection: related_frames[collection] for collection in sources[1:]}
        spill_dir = out_dir / f".spill-{entity}"
        try:
            result, ids = context.entity(entity, related, complete_ids, out_dir, spill_dir)
        finally:
            shutil.rmtree(spill_dir, ignore_errors=True)
        if result["mode"] == "bulk" and entity in REFERENCED:  # a rejected record still exists: not an orphan
            complete_ids[entity] = ids
        results[entity] = result | {"seconds": round(time.perf_counter() - started, 3)}
        still_needed = {c for later in delivered[position + 1 :] for c in normalizer.sources[later][1:]}
        for collection in set(related_frames) - still_needed:  # free what no later entity joins
            del related_frames[collection]
    return results


def _related(raw: dict[str, dict], collection: str, schema: pa.Schema, size: int) -> pd.DataFrame:
    """A related collection's declared fields; an undelivered one reads as no records (as in stage._read)."""
    if collection not in raw:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in schema.names})
    return read_related(raw[collection]["path"], schema, size)


@dataclass
class _Context:
    integration: IntegrationConfig
    normalizer: object
    raw: dict[str, dict]
    modes: dict[str, str]
    today: date
    newest_wins: bool
    size: int

    def entity(self, entity, related, complete_ids, out_dir, spill_dir) -> tuple[dict, pd.Index]:
        source = self.normalizer.sources[entity][0]
        try:
            spilled = self._first_pass(entity, related, spill_dir, python=False)
        except MixedTypes:  # the whole path reads such a file in Python throughout: so do we
            shutil.rmtree(spill_dir, ignore_errors=True)
            spilled = self._first_pass(entity, related, spill_dir, python=True)
        dropped, collapsed = self._settle(spilled)

        writer = FrameWriter(out_dir / "valid" / f"{entity}.parquet", valid_schema(entity))
        dropped_values, kept_rows = Counter(), Counter()
        last_valid = None
        for path in spilled.files:
            with open(path, "rb") as spill:
                candidates, kept, sent = pickle.load(spill)
            if len(dropped):
                candidates = candidates[~candidates.index.isin(dropped)]
            valid, invalid = validate(entity, candidates)
            if entity == "enrollments":
                valid, invalid = whole._reject_orphans(valid, invalid, complete_ids)
            spilled.reasons.append(invalid)
            spilled.rejected_ids.append(candidates.loc[invalid.index, "source_id"])
            kept = kept.reindex(valid.index)
            dropped_values.update(dropped_counts(sent, valid))
            kept_rows.update(kept.dropna().value_counts().to_dict())
            if len(valid):
                writer.write(valid.assign(**{NOT_DELIVERED: kept}))
            last_valid = valid.assign(**{NOT_DELIVERED: kept})
        if writer.rows == 0 and last_valid is not None:  # as the whole path: an empty dataset still has its row group
            writer.write(last_valid)

        reasons = pd.concat([r for r in spilled.reasons if len(r)] or [pd.Series(dtype=object)]).sort_index()
        source_ids = pd.concat([s for s in spilled.rejected_ids if len(s)] or [pd.Series(dtype=object)])
        payloads = read_lines(self.raw[source]["path"], whole.payload_positions(reasons))
        rejected = pd.DataFrame(
            {
                "source_id": source_ids.reindex(reasons.index).str.slice(0, MAX_INDEXED_CHARS).values,
                "reasons": reasons.values,
                "payload": [payloads.get(i) for i in reasons.index],
            },
            columns=whole.REJECTED_COLUMNS,
        )
        kept_columns = sorted({name for names in kept_rows for name in names.split(",")})
        if kept_columns:
            log.warning(
                "%s/%s: %s not delivered for %d records; the warehouse keeps its values",
                self.integration.name, entity, ", ".join(kept_columns), sum(kept_rows.values()),
            )
        result = {
            "mode": self.raw[source]["mode"],
            "valid": writer.close(),
            "rejected": write_frame(out_dir / "rejected" / f"{entity}.parquet", rejected),
            "fetched": spilled.fetched,
            "repeated": collapsed,
            "kept_columns": kept_columns,
            "kept_rows": sum(kept_rows.values()),
            "warnings": warnings_from_counts(self.normalizer, entity, dropped_values, kept_rows),
        }
        ids = pd.Index(pd.concat(spilled.ids)) if spilled.ids else pd.Index([], dtype=object)
        return result, ids

    def _first_pass(self, entity: str, related: dict, spill_dir: Path, *, python: bool) -> _Spilled:
        """Normalise and check every chunk record by record; spill the candidates, keep their id hashes."""
        source = self.normalizer.sources[entity][0]
        spilled = _Spilled()
        for number, chunk in enumerate(iter_records(self.raw[source]["path"], self.normalizer.schemas[source], self.size, python=python)):
            spilled.fetched += len(chunk)
            records = {source: chunk, **related}
            frame = self.normalizer.normalize(entity, records, self.integration)
            reasons = input_reasons(frame, whole._raw_errors(chunk, self.normalizer.unreadable_related(entity, records)), self.today)
            spilled.reasons.append(reasons)
            spilled.rejected_ids.append(frame.loc[reasons.index, "source_id"])
            if entity in REFERENCED:
                spilled.ids.append(frame["source_id"].dropna())
            candidates = frame.drop(index=reasons.index)
            kept = self.normalizer.not_delivered(entity, records, self.modes).reindex(candidates.index)
            sent = sent_flags(self.normalizer, entity, chunk).reindex(candidates.index)
            ids = candidates["source_id"]
            known = ids.notna().to_numpy()
            spilled.hashes.append(pd.util.hash_array(ids[known].to_numpy(dtype=object)))
            spilled.positions.append(candidates.index[known].to_numpy())
            # Pickle, not Parquet: a private scratch file read back by this step alone, and it round-trips
            # every dtype exactly (validation must see the very frame the whole path would).
            path = spill_dir / f"{number:06d}.pickle"
            with open_private(path) as spill:
                pickle.dump((candidates, kept, sent), spill, protocol=pickle.HIGHEST_PROTOCOL)
            spilled.files.append(path)
        return spilled

    def _settle(self, spilled: _Spilled) -> tuple[pd.Index, int]:
        """Rows repeated ids take out of the load (older versions, copies, conflicts) and how many copies collapsed."""
        hashes = np.concatenate(spilled.hashes) if spilled.hashes else np.array([], dtype=np.uint64)
        positions = np.concatenate(spilled.positions) if spilled.positions else np.array([], dtype=np.int64)
        suspects = positions[pd.Series(hashes).duplicated(keep=False).to_numpy()]
        if not len(suspects):
            return pd.Index([]), 0
        parts = []
        for path in spilled.files:
            with open(path, "rb") as spill:
                candidates = pickle.load(spill)[0]
            parts.append(candidates[candidates.index.isin(suspects)])
        rows = pd.concat(parts)
        survivors = whole.newest_versions(rows) if self.newest_wins else rows
        checked, collapsed, conflicts = repeated_records(survivors)
        spilled.reasons.append(conflicts)
        spilled.rejected_ids.append(rows.loc[conflicts.index, "source_id"])
        return rows.index.difference(checked.index), collapsed
