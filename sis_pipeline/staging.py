"""Datasets handed between steps: Parquet files under a per-run folder, passed on as small handles."""

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STAGING_ENV = "SIS_STAGING_DIR"
ROW_GROUP_ROWS = 100_000
_PAYLOADS = pa.schema([("payload", pa.string())])


def staging_root(env=os.environ) -> Path:
    return Path(env.get(STAGING_ENV) or Path.cwd() / ".data" / "staging")


def handle(path: Path, rows: int) -> dict:
    """What one step tells the next: where the dataset is and how many rows it holds."""
    return {"path": str(path), "rows": int(rows)}


class PayloadWriter:
    """Raw records as they arrived (one JSON text per row), written in bounded row groups."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._buffer: list[str] = []
        self._writer = pq.ParquetWriter(path, _PAYLOADS)

    def write(self, payloads: list[str]) -> None:
        self._buffer.extend(payloads)
        self.rows += len(payloads)
        if len(self._buffer) >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.table({"payload": self._buffer}, schema=_PAYLOADS))
            self._buffer = []

    def close(self) -> dict:
        self._flush()
        self._writer.close()
        return handle(self.path, self.rows)


def read_payloads(path: str) -> list[str]:
    return pq.read_table(path, columns=["payload"]).column("payload").to_pylist()


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
