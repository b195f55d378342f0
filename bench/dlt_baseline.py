"""Baseline (c): dlt's declarative `rest_api` source loading the same simulator into PostgreSQL.

    bench/.venv-dlt/bin/python bench/dlt_baseline.py SPEC_JSON OUT_JSON

Runs with dlt's own virtualenv (suite.py makes it), never the product's: it imports nothing of
sis_pipeline. SPEC_JSON names the service, its collections, the page size, the parallelism, the
database and where dlt keeps its working files; the client's credentials come from the environment
variables the spec names. Writes to OUT_JSON the seconds of `pipeline.run` (extract, normalise and
load), this process's peak RSS, each collection's table's row count and every table dlt made.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dlt
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator
from dlt.sources.rest_api import rest_api_source

DATASET = "dlt_baseline"


def source(spec: dict):
    auth = OAuth2ClientCredentials(
        access_token_url=spec["token_url"],
        client_id=os.environ[spec["client_id_env"]],
        client_secret=os.environ[spec["client_secret_env"]],
    )
    # The simulator's bodies carry no total: a district's config stops at the first empty page.
    paginator = OffsetPaginator(limit=spec["page_size"], total_path=None, stop_after_empty_page=True)
    config = {
        "client": {"base_url": spec["service_root"].rstrip("/") + "/", "auth": auth, "paginator": paginator},
        # An upsert on the OneRoster id, as our sync is.
        "resource_defaults": {"write_disposition": "merge", "primary_key": "sourcedId"},
        "resources": [
            {"name": collection, "endpoint": {"path": path, "data_selector": list_key}}
            for collection, (path, list_key) in spec["endpoints"].items()
        ],
    }
    return rest_api_source(config, parallelized=True)


def with_password(url: str) -> str:
    """dlt refuses PostgreSQL credentials without a password; a server that trusts the user ignores this one."""
    parts = urlsplit(url)
    if parts.password is not None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace("@", ":unused-trust-auth@", 1)))


def main(spec_file: str, out_file: str) -> None:
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    # The same number of collections in flight as our extract step
    os.environ["EXTRACT__WORKERS"] = str(spec["parallel"])
    pipeline = dlt.pipeline(
        pipeline_name="sis_bench_dlt",
        pipelines_dir=spec["work_dir"],
        destination=dlt.destinations.postgres(credentials=with_password(spec["database_url"])),
        dataset_name=DATASET,
    )
    started = time.perf_counter()
    pipeline.run(source(spec), loader_file_format="csv")
    seconds = time.perf_counter() - started

    schema = pipeline.default_schema
    tables = {spec_name: schema.naming.normalize_table_identifier(spec_name) for spec_name in spec["endpoints"]}
    with pipeline.sql_client() as client:
        made = sorted(schema.data_table_names())
        rows = {name: client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(name)}")[0][0]
                for name in made}
    result = {
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "dlt_version": dlt.__version__,
        "per_collection": {collection: rows.get(table, 0) for collection, table in tables.items()},
        "records": sum(rows.get(table, 0) for table in tables.values()),
        # dlt unnests lists of objects into child tables by default; what a district gets, so reported as made
        "tables_made": rows,
    }
    Path(out_file).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
