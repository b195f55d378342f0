"""Step 3 for students: the delivered rows, each with its student_uid, in row groups, and what the SIS's values do to local edits.

Only the columns identity matching reads are ever held for every student; the full rows pass through a
row group at a time, taking their uid and rule by position. The local-edit conflicts need the SIS's
values of the edited children alone, so only those rows are kept whole. Memory stays flat from a
hundred thousand students to a million.
"""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from sis_pipeline.resolve.identity import IDENTITY_RULE, resolve_identities
from sis_pipeline.staging import FrameWriter
from sis_pipeline.warehouse.identity_reviews import record_reviews
from sis_pipeline.warehouse.overrides import edited_uids, settle_conflicts
from sis_pipeline.warehouse.student_mappings import read_identity_index

# every column resolve_identities reads (names and birth date for the near-duplicate reviews)
IDENTITY_COLUMNS = ("integration", "source_id", "legacy_source_id", "state_id", "student_number", "first_name", "last_name", "birth_date")
DECIDED_COLUMNS = ["student_uid", IDENTITY_RULE]


@dataclass(frozen=True)
class ResolvedStudents:
    students: dict  # handle of the resolved students dataset
    decisions: pd.DataFrame  # resolve/conflicts.py's DECISION_COLUMNS
    reviews_opened: int


def resolve_students(engine: Engine, integration: str, run_id: str, strategy: str, delivered: str, out: Path) -> ResolvedStudents:
    """`delivered` (the valid students dataset) with `student_uid` and `identity_rule`, written to `out`.

    Equal to resolving the whole frame: settle_conflicts only ever compares the rows of children with an
    active edit, so it is handed those rows alone."""
    narrow = read_columns(delivered, IDENTITY_COLUMNS)
    resolved, reviews = resolve_identities(narrow, read_identity_index(engine, integration, narrow), integration)
    decided = resolved[DECIDED_COLUMNS]
    del narrow, resolved
    reviews_opened = record_reviews(engine, run_id, integration, reviews)
    written, edited_rows = write_decided(delivered, decided, out, edited_uids(engine))
    decisions = settle_conflicts(engine, integration, strategy, edited_rows)
    return ResolvedStudents(written, decisions, reviews_opened)


def read_columns(path: str, wanted: tuple[str, ...]) -> pd.DataFrame:
    """The dataset's `wanted` columns (those it has), with the dtypes reading it whole would give them."""
    present = [name for name in wanted if name in pq.read_schema(path).names]
    return pq.read_table(path, columns=present).to_pandas()


def write_decided(delivered: str, decided: pd.DataFrame, out: Path, edited: set[str]) -> tuple[dict, pd.DataFrame]:
    """Each row group of `delivered` with the `decided` columns of the same positions, written to `out`;
    and the rows of the `edited` children (their whole rows, in delivery order)."""
    parquet = pq.ParquetFile(delivered)
    groups = range(parquet.num_row_groups)
    writer = FrameWriter(out, resolved_schema(parquet, decided))
    kept, start = [], 0
    for chunk in ((parquet.read_row_group(group).to_pandas() for group in groups) if len(groups) else [_empty(parquet)]):
        labels = decided.iloc[start:start + len(chunk)]
        chunk = chunk.assign(**{name: labels[name].to_numpy() for name in DECIDED_COLUMNS})
        start += len(chunk)
        writer.write(chunk)
        kept.append(chunk[chunk["student_uid"].isin(edited)])
    if start != len(decided):
        raise ValueError(f"{delivered}: {start} rows in its row groups, {len(decided)} decided")
    return writer.close(), pd.concat(kept, ignore_index=True)


def resolved_schema(parquet: pq.ParquetFile, decided: pd.DataFrame) -> pa.Schema:
    """The Arrow schema writing the whole resolved frame at once would infer (Parquet from pandas).

    Inferred from the first row group; a column with no value there is typed `null`, which only holds if
    the column has no value anywhere, so such columns are looked up in the later row groups.
    """
    first = parquet.read_row_group(0) if parquet.num_row_groups else parquet.schema_arrow.empty_table()
    sample = first.to_pandas().assign(**{name: decided[name].iloc[:first.num_rows].to_numpy() for name in DECIDED_COLUMNS})
    schema = pa.Schema.from_pandas(sample, preserve_index=False)
    for name in [field.name for field in schema if pa.types.is_null(field.type) and field.name in parquet.schema_arrow.names]:
        for group in range(1, parquet.num_row_groups):
            inferred = pa.Schema.from_pandas(parquet.read_row_group(group, columns=[name]).to_pandas(), preserve_index=False).field(name)
            if not pa.types.is_null(inferred.type):
                schema = schema.set(schema.get_field_index(name), inferred)
                break
    return schema


def _empty(parquet: pq.ParquetFile) -> pd.DataFrame:
    return parquet.schema_arrow.empty_table().to_pandas()
