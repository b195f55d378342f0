"""Step 3 for students: the delivered rows, each with its student_uid, in row groups, and what the SIS's values do to local edits.

The delivery passes through a row group at a time: matched, given its uids and written. What spans the
whole delivery is what the warehouse already knows (the identity index) and the uids matched so far,
never the delivered students, so a first sync's memory is flat from a hundred thousand students to a
million. The local-edit conflicts need the SIS's values of the edited children alone, so only those rows
are kept whole.
"""

import itertools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from sis_pipeline.resolve.identity import IdentityResolver
from sis_pipeline.staging import FrameWriter
from sis_pipeline.warehouse.identity_reviews import record_reviews
from sis_pipeline.warehouse.overrides import edited_uids, settle_conflicts
from sis_pipeline.warehouse import student_mappings
from sis_pipeline.warehouse.student_mappings import read_identity_index

# the columns whose keys find a small delivery's candidates (warehouse/student_mappings.py)
IDENTITY_COLUMNS = ("integration", "source_id", "legacy_source_id", "state_id", "student_number", "first_name", "last_name", "birth_date")


@dataclass(frozen=True)
class ResolvedStudents:
    students: dict  # handle of the resolved students dataset
    decisions: pd.DataFrame  # resolve/conflicts.py's DECISION_COLUMNS
    reviews_opened: int


def resolve_students(engine: Engine, integration: str, run_id: str, strategy: str, delivered: str, out: Path) -> ResolvedStudents:
    """`delivered` (the valid students dataset) with `student_uid` and `identity_rule`, written to `out`.

    Equal to resolving the whole frame: each row group is resolved in delivery order by one
    IdentityResolver, and settle_conflicts only ever compares the rows of children with an active edit, so
    it is handed those rows alone."""
    parquet = pq.ParquetFile(delivered)
    # A small delivery is matched against the rows its keys find; that needs its keys, and it is small.
    keys = read_columns(delivered, IDENTITY_COLUMNS) if parquet.metadata.num_rows <= student_mappings.TARGETED_UP_TO else None
    resolver = IdentityResolver(read_identity_index(engine, integration, keys, people_when_needed=True), integration,
                                lambda: pq.read_table(delivered, columns=["source_id"]).column("source_id"))
    del keys
    written, edited_rows = write_resolved(parquet, resolver, out, edited_uids(engine))
    reviews_opened = record_reviews(engine, run_id, integration, resolver.reviews())
    decisions = settle_conflicts(engine, integration, strategy, edited_rows)
    return ResolvedStudents(written, decisions, reviews_opened)


def read_columns(path: str, wanted: tuple[str, ...]) -> pd.DataFrame:
    """The dataset's `wanted` columns (those it has), with the dtypes reading it whole would give them."""
    present = [name for name in wanted if name in pq.read_schema(path).names]
    return pq.read_table(path, columns=present).to_pandas()


def write_resolved(parquet: pq.ParquetFile, resolver: IdentityResolver, out: Path, edited: set[str]) -> tuple[dict, pd.DataFrame]:
    """Each row group of `parquet` resolved and written to `out`; and the rows of the `edited` children (their
    whole rows, in delivery order)."""
    groups = range(parquet.num_row_groups)
    chunks = (resolver.resolve(parquet.read_row_group(group).to_pandas()) for group in groups) if len(groups) else iter([resolver.resolve(_empty(parquet))])
    first = next(chunks)
    writer = FrameWriter(out, resolved_schema(parquet, first))
    kept = []
    for chunk in itertools.chain([first], chunks):
        writer.write(chunk)
        kept.append(chunk[chunk["student_uid"].isin(edited)])
    return writer.close(), pd.concat(kept, ignore_index=True)


def resolved_schema(parquet: pq.ParquetFile, first: pd.DataFrame) -> pa.Schema:
    """The Arrow schema writing the whole resolved frame at once would infer (Parquet from pandas).

    Inferred from the first row group, resolved (`first`); a column with no value there is typed `null`, which only holds if
    the column has no value anywhere, so such columns are looked up in the later row groups.
    """
    schema = pa.Schema.from_pandas(first, preserve_index=False)
    for name in [field.name for field in schema if pa.types.is_null(field.type) and field.name in parquet.schema_arrow.names]:
        for group in range(1, parquet.num_row_groups):
            inferred = pa.Schema.from_pandas(parquet.read_row_group(group, columns=[name]).to_pandas(), preserve_index=False).field(name)
            if not pa.types.is_null(inferred.type):
                schema = schema.set(schema.get_field_index(name), inferred)
                break
    return schema


def _empty(parquet: pq.ParquetFile) -> pd.DataFrame:
    return parquet.schema_arrow.empty_table().to_pandas()
