"""The two floors a full sync is measured against: fetching alone, and COPY alone."""

import io
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import psycopg
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from _scratch import libpq_url
from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.providers.oneroster import OneRosterProvider
from sis_pipeline.warehouse.schema import ENTITY_TABLES

# The loader's own CSV options: quoting every value is how COPY tells "" from NULL.
CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")


def _count(provider, started: float, collection: str) -> dict:
    # When each collection starts and ends shows which one is the critical path of the fetch.
    began = time.perf_counter() - started
    records = sum(len(page) for page in provider.iter_pages(collection))
    return {"records": records, "began_s": round(began, 2), "ended_s": round(time.perf_counter() - started, 2)}


def fetch_floor(integration: IntegrationConfig) -> dict:
    """Every page of every delivered collection fetched and parsed, counted and dropped, as extract.py runs them."""
    provider = OneRosterProvider(integration)
    try:
        modes = provider.collection_modes()
        delivered = [collection for collection in provider.collections if modes[collection] != "absent"]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, provider.parallel)) as pool:
            per_collection = dict(zip(delivered, pool.map(partial(_count, provider, started), delivered)))
        seconds = time.perf_counter() - started
        requests = provider.client.stats.requests
    finally:
        provider.close()
    records = sum(item["records"] for item in per_collection.values())
    return {"seconds": round(seconds, 3), "records": records, "requests": requests, "per_collection": per_collection}


def run_frames(run_dir: Path) -> dict[str, Path]:
    """The canonical valid frames the run loaded: normalized ones, and the resolved students (with student_uid)."""
    frames = {entity: run_dir / "normalized" / "valid" / f"{entity}.parquet" for entity in ENTITIES}
    frames["students"] = run_dir / "resolved" / "students.parquet"
    missing = [str(path) for path in frames.values() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"the run's staging folder lacks {missing}")
    return frames


def _plain_table(entity: str, names: list[str]) -> Table:
    """The warehouse table's column types, without its key, indexes or bookkeeping columns."""
    source = ENTITY_TABLES[entity].c
    return Table(entity, MetaData(), *(Column(name, source[name].type, nullable=source[name].nullable) for name in names))


def copy_floor(database_url: str, frames: dict[str, Path]) -> dict:
    """Each entity's rows COPYed once as CSV into plain tables, in one transaction; only COPY and commit are timed."""
    per_entity: dict[str, dict] = {}
    with psycopg.connect(libpq_url(database_url)) as conn:
        # only the table's own columns: the identity step's `identity_rule` goes to student_mappings, not here
        arrow = {entity: pq.read_table(path) for entity, path in frames.items()}
        arrow = {entity: table.select([c for c in table.column_names if c in ENTITY_TABLES[entity].c]) for entity, table in arrow.items()}
        # Created and committed first, so COPY into a table made in the same transaction takes no shortcut.
        for entity, table in arrow.items():
            ddl = CreateTable(_plain_table(entity, table.column_names)).compile(dialect=postgresql.dialect())
            conn.execute(str(ddl))
        conn.commit()
        seconds = 0.0
        for entity in list(arrow):
            table = arrow.pop(entity)  # one entity's CSV in memory at a time
            buffer = io.BytesIO()
            pa_csv.write_csv(table, buffer, CSV_OPTIONS)
            statement = f"COPY {entity} ({', '.join(table.column_names)}) FROM STDIN WITH (FORMAT csv)"
            started = time.perf_counter()
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(buffer.getbuffer())
            elapsed = time.perf_counter() - started
            seconds += elapsed
            per_entity[entity] = {"rows": table.num_rows, "csv_bytes": buffer.tell(), "seconds": round(elapsed, 3)}
        started = time.perf_counter()
        conn.commit()
        seconds += time.perf_counter() - started
        copied = {entity: conn.execute(f"SELECT count(*) FROM {entity}").fetchone()[0] for entity in per_entity}
    for entity, rows in copied.items():
        if rows != per_entity[entity]["rows"]:
            raise AssertionError(f"COPY floor: {entity} holds {rows} rows, expected {per_entity[entity]['rows']}")
    return {"seconds": round(seconds, 3), "records": sum(copied.values()), "per_entity": per_entity}
