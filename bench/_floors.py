"""The two floors a full sync is measured against: fetching alone with plain httpx, and COPY alone."""

import io
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from _scratch import libpq_url
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.warehouse.engine import create_warehouse_engine
from sis_pipeline.warehouse.schema import ENTITY_TABLES, ensure_schema

# The loader's own CSV options: quoting every value is how COPY tells "" from NULL.
CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
# Set by the loader on every row it writes; the floor gives every row the same instant.
LOAD_STAMPS = ("first_seen_at", "updated_at")


def _token(http: httpx.Client, token_url: str, client_id: str, client_secret: str) -> str:
    response = http.post(token_url, data={"grant_type": "client_credentials"}, auth=(client_id, client_secret))
    response.raise_for_status()
    return response.json()["access_token"]


def _page_through(http: httpx.Client, url: str, list_key: str, page_size: int, started: float) -> dict:
    """Every page of one collection by offset and limit, in order; a short page is the last."""
    began, records, requests, offset = time.perf_counter() - started, 0, 0, 0
    while True:
        response = http.get(url, params={"limit": page_size, "offset": offset})
        response.raise_for_status()
        page = response.json()[list_key]
        records, requests, offset = records + len(page), requests + 1, offset + page_size
        if len(page) < page_size:
            break
    return {"records": records, "requests": requests, "began_s": round(began, 2), "ended_s": round(time.perf_counter() - started, 2)}


def fetch_floor(service_root: str, token_url: str, credentials: tuple[str, str], endpoints: dict[str, tuple[str, str]],
                page_size: int, parallel: int) -> dict:
    """Every page of every collection in `endpoints` (collection -> (path, list key)) fetched with a plain
    keep-alive httpx client and parsed, records counted and dropped; `parallel` collections at a time."""
    started = time.perf_counter()
    with httpx.Client(timeout=60.0, limits=httpx.Limits(max_connections=parallel + 1)) as http:
        http.headers["Authorization"] = f"Bearer {_token(http, token_url, *credentials)}"
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {collection: pool.submit(_page_through, http, f"{service_root}/{path}", list_key, page_size, started)
                       for collection, (path, list_key) in endpoints.items()}
            per_collection = {collection: future.result() for collection, future in futures.items()}
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "records": sum(item["records"] for item in per_collection.values()),
        "requests": sum(item["requests"] for item in per_collection.values()) + 1,  # the token
        "parallel": parallel,
        "per_collection": per_collection,
    }


def run_frames(run_dir: Path) -> dict[str, Path]:
    """The canonical valid frames the run loaded: normalized ones, and the resolved people (with their uid)."""
    frames = {entity: run_dir / "normalized" / "valid" / f"{entity}.parquet" for entity in ENTITIES}
    frames |= {entity: run_dir / "resolved" / f"{entity}.parquet" for entity in ("students", "teachers")}
    missing = [str(path) for path in frames.values() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"the run's staging folder lacks {missing}")
    return frames


def _warehouse_rows(entity: str, path: Path, stamp: datetime) -> pa.Table:
    """The frame's columns the warehouse table has, plus the load stamps the loader would add."""
    table = pq.read_table(path)
    # the identity step's `identity_rule` goes to the mappings table, not here
    table = table.select([name for name in table.column_names if name in ENTITY_TABLES[entity].c])
    for name in LOAD_STAMPS:
        table = table.append_column(name, pa.array([stamp] * table.num_rows, pa.timestamp("us", tz="UTC")))
    lacking = [c.name for c in ENTITY_TABLES[entity].c if not c.nullable and c.name not in table.column_names]
    if lacking:
        raise ValueError(f"COPY floor: {entity} rows lack the warehouse's required columns {lacking}")
    return table


def copy_floor(database_url: str, frames: dict[str, Path]) -> dict:
    """Each entity's rows COPYed once as CSV into the real warehouse tables (keys and indexes as the
    migrations make them) of a fresh database, in one transaction; only COPY and commit are timed."""
    engine = create_warehouse_engine(database_url)
    try:
        ensure_schema(engine)  # as the pipeline does on first connect; committed, so COPY takes no empty-table shortcut
    finally:
        engine.dispose()
    stamp = datetime.now(UTC)
    per_entity: dict[str, dict] = {}
    seconds = 0.0
    with psycopg.connect(libpq_url(database_url)) as conn:
        for entity, path in frames.items():
            table = _warehouse_rows(entity, path, stamp)  # one entity's CSV in memory at a time
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
    return {"seconds": round(seconds, 3), "records": sum(copied.values()), "copied": copied, "per_entity": per_entity}


if __name__ == "__main__":
    # suite.py runs each floor in a process of its own, as it does each sync, so every peak RSS is the phase's own.
    import json
    import os
    import resource
    import sys

    floor, spec_file, out = sys.argv[1:]
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    if floor == "fetch":
        credentials = (os.environ[spec.pop("client_id_env")], os.environ[spec.pop("client_secret_env")])
        result = fetch_floor(credentials=credentials, **spec)
    else:
        result = copy_floor(spec["database_url"], {entity: Path(path) for entity, path in spec["frames"].items()})
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    Path(out).write_text(json.dumps(result), encoding="utf-8")
