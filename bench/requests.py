"""What one full sync costs in requests, per provider: each simulator synced once, counted by its /admin/stats.

    .venv/bin/python bench/requests.py --students 2000

Each provider gets its own simulator of the same district size and a fresh SQLite warehouse; the count is
every request the simulator answered during the sync (token included). PowerSchool runs twice: with the
plugin allowed to read schema tables (section enrollments from `cc`) and refused them (one roster list per
section). Page sizes are the simulators' defaults unless given.
"""

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

import yaml

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations
from sis_simulators import SimulatorServer, SimulatorSettings
from sis_simulators.powerschool import PowerSchoolSettings
from sis_simulators.qmlativ import QmlativSettings

PAGE_SIZE = 1000  # the integrations' page_size (config default); each server caps it at its own maximum


def providers(schema_page: int) -> dict[str, tuple[dict, dict]]:
    """name -> (SimulatorServer arguments, integration entry)."""
    ps = lambda access: PowerSchoolSettings(  # noqa: E731
        client_id="ps", client_secret=secrets.token_hex(8),
        schema_table_query_max_page_size=schema_page, schema_table_access=access,
    )
    return {
        "powerschool (cc table)": ({"kind": "powerschool", "settings": ps(True)}, {"provider": "powerschool"}),
        "powerschool (refused)": ({"kind": "powerschool", "settings": ps(False)}, {"provider": "powerschool"}),
        "infinite_campus": (
            {"settings": SimulatorSettings.infinite_campus(app_name="bench", client_id="ic", client_secret=secrets.token_hex(8))},
            {"provider": "infinite_campus", "options": {"app_name": "bench"}},
        ),
        "skyward (SMS OneRoster)": (
            {"settings": SimulatorSettings(path_prefix="/api", client_id="sms", client_secret=secrets.token_hex(8))},
            {"provider": "skyward", "options": {"api": "oneroster"}},
        ),
        "skyward (Qmlativ)": (
            {"kind": "qmlativ", "settings": QmlativSettings(client_id="qm", client_secret=secrets.token_hex(8))},
            {"provider": "skyward", "options": {"api": "qmlativ"}},
        ),
        "oneroster": (
            {"settings": SimulatorSettings(client_id="or", client_secret=secrets.token_hex(8))},
            {"provider": "oneroster"},
        ),
    }


def measure(name: str, server_args: dict, entry: dict, students: int, workdir: Path) -> dict:
    slug = "".join(c if c.isalnum() else "_" for c in name.lower())
    with SimulatorServer(students, **server_args) as sim:
        os.environ["BENCH_ID"], os.environ["BENCH_SECRET"] = sim.client_id, sim.client_secret
        config_file = workdir / f"{slug}.yaml"
        config_file.write_text(yaml.safe_dump({"integrations": [{
            "name": slug, "base_url": sim.base_url, "client_id_env": "BENCH_ID", "client_secret_env": "BENCH_SECRET",
            "requests_per_minute": 1_000_000, "page_size": PAGE_SIZE, **entry,
            **({"base_url": sim.oneroster_root("1.1"), "token_url": sim.token_url} if entry["provider"] == "oneroster" else {}),
        }]}))
        config = load_config(config_file)
        resources = build_resources(config, f"sqlite:///{workdir / slug}.sqlite", str(workdir / f"{slug}-staging"))
        before = sum(sim.stats()["requests"].values())
        result = sync_integrations(config, [slug], resources=resources)["integrations"][slug]
        # a blocking data-quality check fails the run after every request was made: still a full sync's cost
        if result["status"] != "success" and result.get("error_class") != "quality":
            sys.exit(f"{name}: the sync did not succeed: {result}")
        return {
            "provider": name, "requests": sum(sim.stats()["requests"].values()) - before, "status": result["status"],
            "error": result.get("error"), "totals": sim.totals(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--schema-page", type=int, default=PowerSchoolSettings.schema_table_query_max_page_size,
                        help="PowerSchool's schema_table_query_max_page_size (simulator default 100)")
    parser.add_argument("--only", help="measure only the providers whose name contains this")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        for name, (server_args, entry) in providers(args.schema_page).items():
            if args.only and args.only not in name:
                continue
            results.append(measure(name, server_args, entry, args.students, Path(tmp)))
    print(json.dumps({"students": args.students, "schema_page": args.schema_page, "results": results}, indent=1))
    print(f"\n| provider ({args.students} students) | requests | sync |\n|---|---:|---|")
    for result in results:
        print(f"| {result['provider']} | {result['requests']:,} | {result['status']} |")


if __name__ == "__main__":
    main()
