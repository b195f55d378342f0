"""Step 2 in bounded memory: each entity's own records normalised, checked and validated a chunk at a time.

The result is the whole-collection path's (stage.py), row for row and reason for reason. Per entity
(`EntityChunks`), chunks are added as they come (from a finished file, or while extraction is still
writing it: streaming.py), then the entity is finished:

1. `add`: a chunk of raw records is normalised and checked record by record (`input_reasons`), and the
   rows left (candidates) validated at once, except rows whose id repeats within the chunk. Candidates
   and validation results are spilled to private files of the run; only the candidates' source-id
   64-bit hashes and positions stay in memory.
2. `finish`: source ids whose hash occurs twice are the only rows cross-record rules can touch. Those
   rows (all copies of every repeated id, plus any hash collision, which the exact rules then leave
   alone) are read back, their early validation discarded, settled by the same functions the whole path
   uses (`newest_versions`, `repeated_records`) and the survivors validated. Per-chunk validation equals
   whole-frame validation once no non-null id repeats: pandera's only cross-row check is source_id's
   uniqueness, and it does not count missing ids.
3. Each chunk's valid rows are checked for orphans and appended to the entity's Parquet.

What stays in memory across chunks: the hashes (16 bytes per record), the ids of students, teachers and
sections delivered in bulk (for enrollments' orphan check), the rejected rows' reasons, and the related
collections an entity joins (declared fields only, see chunks.read_related).
"""

import logging
import pickle
import shutil
import time
from collections import Counter
from dataclasses import dataclass
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
from sis_pipeline.normalize.related import NOT_DELIVERED, Lookup, id_set, text_ids
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


@dataclass(frozen=True)
class ChunkOptions:
    """What every entity of one normalisation shares."""

    integration: IntegrationConfig
    normalizer: object
    raw: dict[str, dict]  # collection -> handle (path, mode); rows may still be growing while streaming
    modes: dict[str, str]
    today: date
    newest_wins: bool
    size: int


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
    options = ChunkOptions(integration, normalizer, raw, {c: h["mode"] for c, h in raw.items()}, today, newest_wins, size)
    results: dict[str, dict] = {}
    complete_ids: dict[str, Lookup] = {}
    related_frames: dict[str, pd.DataFrame] = {}
    delivered = [entity for entity in ENTITIES if normalizer.sources[entity][0] in raw]
    for position, entity in enumerate(delivered):
        started = time.perf_counter()
        related = related_collections(options, entity, related_frames)
        source = normalizer.sources[entity][0]
        chunks = EntityChunks(options, entity, related, out_dir)
        try:
            try:
                for chunk in iter_records(raw[source]["path"], normalizer.schemas[source], size):
                    chunks.add(chunk)
            except MixedTypes:  # the whole path reads such a file in Python throughout: so do we
                chunks.discard()
                chunks = EntityChunks(options, entity, related, out_dir)
                for chunk in iter_records(raw[source]["path"], normalizer.schemas[source], size, python=True):
                    chunks.add(chunk)
            result, ids = chunks.finish(complete_ids)
        finally:
            chunks.discard()
        if result["mode"] == "bulk" and entity in REFERENCED:  # a rejected record still exists: not an orphan
            complete_ids[entity] = ids
        results[entity] = result | {"seconds": round(time.perf_counter() - started, 3)}
        still_needed = {c for later in delivered[position + 1 :] for c in normalizer.sources[later][1:]}
        for collection in set(related_frames) - still_needed:  # free what no later entity joins
            del related_frames[collection]
    return results


def related_collections(options: ChunkOptions, entity: str, held: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The related collections `entity` joins, read once into `held` (declared fields only)."""
    for collection in options.normalizer.sources[entity][1:]:
        if collection not in held:
            held[collection] = _related(options.raw, collection, options.normalizer.schemas[collection], options.size)
    return {collection: held[collection] for collection in options.normalizer.sources[entity][1:]}


def _related(raw: dict[str, dict], collection: str, schema: pa.Schema, size: int) -> pd.DataFrame:
    """A related collection's declared fields; an undelivered one reads as no records (as in stage._read)."""
    if collection not in raw:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in schema.names})
    return read_related(raw[collection]["path"], schema, size)


class EntityChunks:
    """One entity normalised a chunk at a time: `add` every chunk of its source records in order, then `finish`."""

    def __init__(self, options: ChunkOptions, entity: str, related: dict[str, pd.DataFrame], out_dir: Path):
        self.options, self.entity, self.related, self.out_dir = options, entity, related, out_dir
        self.source = options.normalizer.sources[entity][0]
        self.spill_dir = out_dir / f".spill-{entity}"
        self.files: list[tuple[Path, Path]] = []  # per chunk: (candidates, validation results)
        self.fetched = 0
        self.reasons: list[pd.Series] = []  # final reasons, by position (input checks; at finish the rest)
        self.rejected_ids: list[pd.Series] = []  # source_id of each such rejected row, by position
        self.hashes: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.ids: list[pa.Array] = []  # every record's id (Arrow text: a few bytes each), for later orphan checks

    def add(self, chunk: pd.DataFrame) -> None:
        """Normalise, check and validate one chunk; spill it, keeping only its candidates' id hashes."""
        options, entity = self.options, self.entity
        self.fetched += len(chunk)
        records = {self.source: chunk, **self.related}
        frame = options.normalizer.normalize(entity, records, options.integration)
        raw_errors = whole._raw_errors(chunk, options.normalizer.unreadable_related(entity, records))
        reasons = input_reasons(frame, raw_errors, options.today)
        self.reasons.append(reasons)
        self.rejected_ids.append(frame.loc[reasons.index, "source_id"])
        if entity in REFERENCED:
            self.ids.append(text_ids(frame["source_id"]))
        candidates = frame.drop(index=reasons.index)
        kept = options.normalizer.not_delivered(entity, records, options.modes).reindex(candidates.index)
        sent = sent_flags(options.normalizer, entity, chunk).reindex(candidates.index)
        ids = candidates["source_id"]
        known = ids.notna().to_numpy()
        self.hashes.append(pd.util.hash_array(ids[known].to_numpy(dtype=object)))
        self.positions.append(candidates.index[known].to_numpy())
        # Rows whose id repeats within the chunk wait for finish(): validated now, pandera would call them not unique.
        repeated_here = (ids.notna() & ids.duplicated(keep=False)).to_numpy()
        valid, invalid = validate(entity, candidates[~repeated_here])
        # Pickle, not Parquet: private scratch files read back by this entity alone, and they round-trip
        # every dtype exactly (validation must see the very frame the whole path would).
        number = len(self.files)
        paths = (self.spill_dir / f"{number:06d}.candidates.pickle", self.spill_dir / f"{number:06d}.validated.pickle")
        self._spill(paths[0], candidates)
        self._spill(paths[1], (valid, invalid, candidates.loc[invalid.index, "source_id"], kept, sent))
        self.files.append(paths)

    def finish(self, complete_ids: dict[str, Lookup]) -> tuple[dict, Lookup]:
        """The entity's datasets and counts, and its records' ids (for the orphan checks of later entities)."""
        options, entity = self.options, self.entity
        suspects = self._suspects()
        survivors, collapsed = self._settle(suspects)
        writer = FrameWriter(self.out_dir / "valid" / f"{entity}.parquet", valid_schema(entity))
        dropped_values, kept_rows = Counter(), Counter()
        last_valid = None
        for _, validated in self.files:
            valid, invalid, invalid_ids, kept, sent = _unspill(validated)
            ids = [invalid_ids, valid["source_id"]]  # where the source id of a row rejected below is read
            if len(suspects):  # their early validation is replaced by the settled survivors'
                valid, invalid = valid[~valid.index.isin(suspects)], invalid[~invalid.index.isin(suspects)]
                mine = survivors[survivors.index.isin(kept.index)]
                if len(mine):
                    ids.append(mine["source_id"])
                    settled_valid, settled_invalid = validate(entity, mine)
                    valid = pd.concat([valid, settled_valid]).sort_index() if len(valid) else settled_valid
                    invalid = pd.concat([invalid, settled_invalid]).sort_index()
            if entity == "enrollments":
                valid, invalid = whole._reject_orphans(valid, invalid, complete_ids)
            if len(invalid):
                self.reasons.append(invalid)
                known = pd.concat(ids)
                self.rejected_ids.append(known[~known.index.duplicated()].reindex(invalid.index))
            kept = kept.reindex(valid.index)
            dropped_values.update(dropped_counts(sent, valid))
            kept_rows.update(kept.dropna().value_counts().to_dict())
            if len(valid):
                writer.write(valid.assign(**{NOT_DELIVERED: kept}))
            last_valid = valid.assign(**{NOT_DELIVERED: kept})
        if writer.rows == 0 and last_valid is not None:  # as the whole path: an empty dataset still has its row group
            writer.write(last_valid)

        reasons = pd.concat([r for r in self.reasons if len(r)] or [pd.Series(dtype=object)]).sort_index()
        source_ids = pd.concat([s for s in self.rejected_ids if len(s)] or [pd.Series(dtype=object)])
        source_ids = source_ids[~source_ids.index.duplicated()]
        payloads = read_lines(options.raw[self.source]["path"], whole.payload_positions(reasons))
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
                options.integration.name, entity, ", ".join(kept_columns), sum(kept_rows.values()),
            )
        result = {
            "mode": options.raw[self.source]["mode"],
            "valid": writer.close(),
            "rejected": write_frame(self.out_dir / "rejected" / f"{entity}.parquet", rejected),
            "fetched": self.fetched,
            "repeated": collapsed,
            "kept_columns": kept_columns,
            "kept_rows": sum(kept_rows.values()),
            "warnings": warnings_from_counts(options.normalizer, entity, dropped_values, kept_rows),
        }
        return result, id_set(self.ids)

    def discard(self) -> None:
        """Remove the spill files (after finish, or when the entity is started again)."""
        shutil.rmtree(self.spill_dir, ignore_errors=True)

    def _spill(self, path: Path, value) -> None:
        with open_private(path) as spill:
            pickle.dump(value, spill, protocol=pickle.HIGHEST_PROTOCOL)

    def _suspects(self) -> np.ndarray:
        """Positions of candidates whose id hash occurs more than once, in delivery order.

        The repeated hashes are found by sorting one joined copy in place, then looked up chunk by chunk:
        at six million enrollments pandas' `duplicated` hash table cost more than the hashes themselves."""
        if not self.hashes:
            return np.array([], dtype=np.int64)
        ordered = np.concatenate(self.hashes)
        ordered.sort()
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        return np.concatenate([positions[np.isin(hashes, repeated)] for hashes, positions in zip(self.hashes, self.positions)])

    def _settle(self, suspects: np.ndarray) -> tuple[pd.DataFrame, int]:
        """The suspects left after the cross-record rules (older versions, copies, conflicts), and copies collapsed."""
        if not len(suspects):
            return pd.DataFrame(), 0
        parts = []
        for candidates_path, _ in self.files:
            candidates = _unspill(candidates_path)
            parts.append(candidates[candidates.index.isin(suspects)])
        rows = pd.concat(parts)
        settled = whole.newest_versions(rows) if self.options.newest_wins else rows
        checked, collapsed, conflicts = repeated_records(settled)
        self.reasons.append(conflicts)
        self.rejected_ids.append(rows.loc[conflicts.index, "source_id"])
        return checked, collapsed


def _unspill(path: Path):
    with open(path, "rb") as spill:
        return pickle.load(spill)
