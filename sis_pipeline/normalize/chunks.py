"""Raw NDJSON records a chunk at a time, so normalising a collection never holds all of it.

Each chunk is a frame like `read_records` gives for the whole file, indexed by the records' positions
in the file (the same positions the whole read has), so rejected payloads are still found by position.
"""

import io
import os
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from sis_pipeline.config import ConfigError
from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD
from sis_pipeline.normalize.records import read_records_in_python

CHUNK_ENV = "SIS_CHUNK_RECORDS"
# ~20k records keeps a chunk's raw, canonical and validated frames to tens of MB whatever the district's size
# (at 50k a chunk of sections or students was some 250 MB of working set at the worker's peak; 10k cost time).
DEFAULT_CHUNK_RECORDS = 20_000


def chunk_records(env=os.environ) -> int:
    """Records per chunk (`SIS_CHUNK_RECORDS`); 0 normalises each collection whole (the old path, kept as a baseline)."""
    value = env.get(CHUNK_ENV, str(DEFAULT_CHUNK_RECORDS)).strip()
    if not value.isdigit():
        raise ConfigError(f"{CHUNK_ENV} must be a whole number of records (0: whole collections), got {value!r}")
    return int(value)


class MixedTypes(Exception):
    """Arrow refused a chunk (a declared field's type changes from record to record).

    The whole-file reader then reads the *whole* file in Python, and pandas types a column from all of
    it (an integer field missing somewhere becomes float); to give the same frames the caller restarts
    the collection with `python=True`, which reads it whole. Only such a provider's memory is unbounded.
    """


def _line_chunks(path: str, size: int) -> Iterator[list[bytes]]:
    with open(path, "rb") as lines:
        chunk: list[bytes] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def iter_records(path: str, schema: pa.Schema, size: int, *, python: bool = False) -> Iterator[pd.DataFrame]:
    """The file's records `size` at a time; an empty file gives one empty frame, as `read_records` does.

    `python=True` (after MixedTypes) gives the whole file as one frame, exactly as `read_records` falls back.
    """
    if python:
        yield read_records_in_python(path, schema)
        return
    start = 0
    for lines in _line_chunks(path, size):
        yield parse_lines(lines, schema, start)
        start += len(lines)
    if start == 0:
        yield pd.DataFrame(index=pd.RangeIndex(0))


def parse_lines(lines: list[bytes], schema: pa.Schema, start: int) -> pd.DataFrame:
    """NDJSON lines as a frame of records, indexed by their positions in the file (`start` onwards)."""
    return _positioned(_parse(lines, schema).to_pandas(), start)


def _parse(lines: list[bytes], schema: pa.Schema) -> pa.Table:
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    try:
        table = pa_json.read_json(io.BytesIO(b"".join(lines)), parse_options=options)
    except pa.ArrowInvalid as why:
        raise MixedTypes(str(why)) from why
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table


def _positioned(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def read_related(path: str, schema: pa.Schema, size: int) -> pd.DataFrame:
    """A related collection (joined by id) held whole, but only its declared fields and input errors.

    Derivations and the not-delivered marks read related records by declared fields alone; dropping the
    rest (inferred extras, nested metadata) chunk by chunk keeps the frame to a few columns per record.
    Text stays in Arrow (values.column hands it out as Python strings): a million students' demographics
    as Python strings were some 300 MB of the worker's peak, as Arrow about 70.
    """
    parts, start = [], 0
    try:
        for lines in _line_chunks(path, size):
            table = _parse(lines, schema)
            table = table.select([name for name in table.column_names if name == INPUT_ERROR_FIELD or _is_declared(name, schema)])
            parts.append(_positioned(table.to_pandas(types_mapper=_text_in_arrow), start))
            start += len(lines)
    except MixedTypes:  # read whole in Python, as the whole path does
        frame = read_records_in_python(path, schema)
        return frame[[name for name in frame.columns if name == INPUT_ERROR_FIELD or _is_declared(name, schema)]]
    if not parts:  # an empty file, as iter_records gives it
        return pd.DataFrame(index=pd.RangeIndex(0))
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _is_declared(name: str, schema: pa.Schema) -> bool:
    return name in schema.names or name.split(".", 1)[0] in schema.names


def _text_in_arrow(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    return pd.ArrowDtype(arrow_type) if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) else None
