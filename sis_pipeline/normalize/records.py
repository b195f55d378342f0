"""Raw NDJSON records as one flat frame: a column per field, nested fields as `ref.sourcedId`."""

import os

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

REF = pa.struct([("sourcedId", pa.string())])
REFS = pa.list_(REF)


def fields(**types: pa.DataType) -> pa.Schema:
    """The fields a normaliser reads, typed; every record also has sourcedId, status and dateLastModified."""
    common = {"sourcedId": pa.string(), "status": pa.string(), "dateLastModified": pa.string()}
    return pa.schema(list({**common, **types}.items()))


def read_records(path: str, schema: pa.Schema) -> pd.DataFrame:
    """Parsed in C++ (pyarrow) with the declared types; undeclared fields are inferred.

    A provider whose declared fields change type from record to record (an id that is a number here
    and a string there) falls back to a slower Python reader rather than failing the sync.
    """
    if os.path.getsize(path) == 0:
        return pd.DataFrame(index=pd.RangeIndex(0))
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    try:
        table = pa_json.read_json(path, parse_options=options)
    except pa.ArrowInvalid:
        return read_records_in_python(path, schema)
    while any(pa.types.is_struct(field.type) for field in table.schema):
        table = table.flatten()
    return table.to_pandas()


def read_records_in_python(path: str, schema: pa.Schema) -> pd.DataFrame:
    """The slower, type-tolerant reader: a frame typed by pandas from all records, declared string fields as strings."""
    with open(path, "rb") as lines:
        records = [orjson.loads(line) for line in lines]
    frame = pd.json_normalize(records) if records else pd.DataFrame()
    for field in schema:
        if pa.types.is_string(field.type) and field.name in frame:
            column = frame[field.name]
            frame[field.name] = column.where(column.isna(), column.astype(str))
    return frame
