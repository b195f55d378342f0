"""Many warehouse rows into a frame, without a Python object per row on the way.

The identity step reads every student row of a large delivery's warehouse (a million at a state's scale).
Fetched as result rows, each row is a Row object and a tuple before the frame copies it: 2.3 GB at a
million students. PostgreSQL instead streams the rows out with COPY ... TO STDOUT as CSV, which Arrow
parses in C; only the frame's own cells become Python strings.
"""

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Engine, Select, text

# PostgreSQL's CSV writes NULL as nothing and the empty string as "": Arrow keeps them apart this way.
_NULL_IS_UNQUOTED_EMPTY = {"strings_can_be_null": True, "quoted_strings_can_be_null": False, "null_values": [""]}


def read_text_frame(engine: Engine, query: Select, columns: list[str]) -> pd.DataFrame:
    """The rows of `query`, whose columns are all text or dates, as an object frame with None for NULL: what
    `pd.DataFrame(rows, columns=columns, dtype=object)` gives on fetched rows, except that PostgreSQL's dates
    arrive as ISO text (`2012-03-04`) where other databases give the driver's date objects."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).all(), columns=columns, dtype=object)
    compiled = query.compile(dialect=engine.dialect)
    buffer = io.BytesIO()
    with engine.connect() as conn, conn.connection.driver_connection.cursor() as cursor:
        conn.execute(text("SET LOCAL datestyle = 'ISO, YMD'"))  # dates as 2012-03-04 whatever the server's setting
        with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", compiled.params) as copy:
            for block in copy:
                buffer.write(block)
    if not buffer.getbuffer().nbytes:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=columns),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types={name: pa.string() for name in columns}, **_NULL_IS_UNQUOTED_EMPTY),
    )
    del buffer
    return table.to_pandas(self_destruct=True).astype(object)
