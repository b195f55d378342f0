"""Datasets handed between steps: Parquet files under a per-run folder, passed on as small handles.

Staged files hold children's names, birth dates and enrollments: every folder the pipeline creates
here is 0700 and every file 0600, whatever the process's umask.
"""

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sis_pipeline.config import ConfigError
from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD

STAGING_ENV = "SIS_STAGING_DIR"
KEEP_RUNS_ENV = "SIS_STAGING_KEEP_RUNS"
DEFAULT_KEEP_RUNS = 3
ROW_GROUP_ROWS = 100_000
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def staging_root(env=os.environ) -> Path:
    return Path(env.get(STAGING_ENV) or Path.cwd() / ".data" / "staging")


def keep_runs(env=os.environ) -> int:
    """How many run folders per integration staging keeps (`SIS_STAGING_KEEP_RUNS`, default 3; at least 1)."""
    value = env.get(KEEP_RUNS_ENV, str(DEFAULT_KEEP_RUNS)).strip()
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{KEEP_RUNS_ENV} must be a whole number of runs, at least 1, got {value!r}")
    return int(value)


def private_dir(path: Path) -> Path:
    """`path` and any missing parents created for the pipeline's user alone (0700), whatever the umask."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    if path.stat().st_mode & 0o777 != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path) -> BinaryIO:
    """A new (or emptied) file readable by the pipeline's user alone (0600), in a folder made private too."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the umask may have taken bits away; an existing file kept its mode
    return os.fdopen(descriptor, "wb")


def handle(path: Path, rows: int) -> dict:
    """What one step tells the next: where the dataset is and how many rows it holds."""
    return {"path": str(path), "rows": int(rows)}


class RecordWriter:
    """Raw records as they arrived, one JSON document per line (NDJSON), appended page by page."""

    def __init__(self, path: Path, secret_fields: Iterable[str] = ()):
        self.path = path
        self.rows = 0
        self._secret_fields = [field.split(".") for field in secret_fields]
        self._file = open_private(path)

    def write(self, records: list[dict]) -> bytes:
        """Append one page; the bytes written (a page digest is taken of exactly what is staged)."""
        if not records:
            return b""
        if self._secret_fields:
            records = [without_fields(record, self._secret_fields) for record in records]
        try:
            lines = [orjson.dumps(record) for record in records]
        except orjson.JSONEncodeError:
            lines = [_dumps_any(record) for record in records]
        data = b"\n".join(lines) + b"\n"
        self._file.write(data)
        self.rows += len(records)
        return data

    def flush(self) -> None:
        """Every record written so far readable by another process (normalising while extracting)."""
        self._file.flush()

    def close(self) -> dict:
        self._file.close()
        return handle(self.path, self.rows)


def _dumps_any(record: dict) -> bytes:
    """A record orjson refuses (a lone surrogate from a JSON escape, an integer past 64 bits) as one line anyway.

    Text that is not valid Unicode cannot be stored; it is written with "?" in its place and the
    record is marked for rejection, so one bad record never fails the extraction.
    """
    try:
        return orjson.dumps(record)
    except orjson.JSONEncodeError:
        text = json.dumps(record, ensure_ascii=False, default=str)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        marked = record | {INPUT_ERROR_FIELD: "text is not valid Unicode (a lone surrogate)"}
        return json.dumps(marked, ensure_ascii=False, default=str).encode("utf-8", "replace")


def without_fields(record: dict, paths: list[list[str]]) -> dict:
    """The record without the fields at these paths (["password"], ["extensions", "table", "pin"]).

    Only the dicts on a path are copied, so the provider's record is left as it was.
    """
    for path in paths:
        record = _without(record, path)
    return record


def _without(record: dict, path: list[str]) -> dict:
    head, rest = path[0], path[1:]
    if head not in record:
        return record
    if not rest:
        return {key: value for key, value in record.items() if key != head}
    inner = record[head]
    return {**record, head: _without(inner, rest)} if isinstance(inner, dict) else record


def read_lines(path: str, wanted: Iterable[int]) -> dict[int, str]:
    """The raw text of some records (by position), e.g. to keep rejected payloads as they were sent."""
    wanted = set(wanted)
    found: dict[int, str] = {}
    if not wanted:
        return found
    with open(path, "rb") as lines:
        for number, line in enumerate(lines):
            if number in wanted:
                found[number] = line.rstrip(b"\n").decode()
                if len(found) == len(wanted):
                    break
    return found


def write_frame(path: Path, frame: pd.DataFrame) -> dict:
    with open_private(path) as out:
        frame.to_parquet(out, index=False, row_group_size=ROW_GROUP_ROWS)
    return handle(path, len(frame))


def read_frame(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


def iter_tables(path: str) -> Iterator[pa.Table]:
    """A dataset's row groups as Arrow tables: what a load COPYs, never turned into Python objects."""
    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        yield parquet.read_row_group(group)


class FrameWriter:
    """A Parquet dataset written a chunk at a time, in the given Arrow schema.

    The schema is fixed up front: a chunk in which a column happens to be all missing would otherwise
    be typed `null` and refused beside later chunks that have values. The file opens at the first chunk,
    whose pandas metadata it keeps, so reading it back restores the dtypes a whole-frame write would.
    """

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = path
        self.rows = 0
        self._schema = schema
        self._file: BinaryIO | None = None
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        if self._writer is None:
            self._file = open_private(self.path)
            self._writer = pq.ParquetWriter(self._file, table.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += len(frame)

    def close(self) -> dict:
        if self._writer is None:
            raise ValueError(f"{self.path}: no chunk was written, not even an empty one")
        self._writer.close()
        self._file.close()
        return handle(self.path, self.rows)
