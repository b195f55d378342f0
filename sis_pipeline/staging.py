"""Datasets handed between steps: Parquet files under a per-run folder, passed on as small handles."""

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq

from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD

STAGING_ENV = "SIS_STAGING_DIR"
ROW_GROUP_ROWS = 100_000


def staging_root(env=os.environ) -> Path:
    return Path(env.get(STAGING_ENV) or Path.cwd() / ".data" / "staging")


def handle(path: Path, rows: int) -> dict:
    """What one step tells the next: where the dataset is and how many rows it holds."""
    return {"path": str(path), "rows": int(rows)}


class RecordWriter:
    """Raw records as they arrived, one JSON document per line (NDJSON), appended page by page."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._file = path.open("wb")

    def write(self, records: list[dict]) -> None:
        if records:
            try:
                lines = [orjson.dumps(record) for record in records]
            except orjson.JSONEncodeError:
                lines = [_dumps_any(record) for record in records]
            self._file.write(b"\n".join(lines) + b"\n")
            self.rows += len(records)

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
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False, row_group_size=ROW_GROUP_ROWS)
    return handle(path, len(frame))


def read_frame(path: str) -> pd.DataFrame:
    return pd.read_parquet(path)


def iter_frames(path: str) -> Iterator[pd.DataFrame]:
    """A dataset in row-group chunks, so a loader's memory stays flat as districts grow."""
    parquet = pq.ParquetFile(path)
    for group in range(parquet.num_row_groups):
        yield parquet.read_row_group(group).to_pandas()
