"""A partition run launched from the Dagster UI beside the same sync from the command line.

    .venv/bin/python bench/ui_vs_cli.py --students 2000

One simulated district, one SQLite warehouse per path, in one run:
- cli: `sis-pipeline sync --config ...`, wall time of the whole command;
- ui: `dagster dev` (webserver and daemon) already up, a run of the asset job for the partition
  submitted through the webserver's GraphQL API exactly as the UI's Materialize button does, timed
  from submission until Dagster reports the run finished (queue, launch of the run worker, code
  location load, the four steps).
The ratio ui/cli is what issue 7 bounds (at most 2x).
"""

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from dagster_graphql import DagsterGraphQLClient

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
NAME = "bench_district"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered at {url} within {seconds}s")


def progress(message: str) -> None:
    print(f"[ui_vs_cli {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median is reported")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="sis-bench-ui-"))
    secret = secrets.token_urlsafe(24)
    sim_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DAGSTER_", "SIS_"))}
    env |= {"SIS_SIM_CLIENT_ID": "bench", "SIS_SIM_CLIENT_SECRET": secret, "BENCH_ID": "bench", "BENCH_SECRET": secret}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    config = scratch / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [{
        "name": NAME, "provider": "oneroster", "page_size": 1000,
        "base_url": f"http://127.0.0.1:{sim_port}/ims/oneroster/v1p1", "token_url": f"http://127.0.0.1:{sim_port}/oauth/token",
        "client_id_env": "BENCH_ID", "client_secret_env": "BENCH_SECRET",
    }]}))
    processes = []
    try:
        progress(f"starting the simulator ({args.students} students)")
        simulator = subprocess.Popen(
            [BIN / "sis-pipeline", "simulate", "oneroster", "--students", str(args.students), "--port", str(sim_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        processes.append(simulator)
        wait_for(f"http://127.0.0.1:{sim_port}/admin/totals", simulator)

        cli_seconds = []
        for attempt in range(args.repeat):
            run_env = env | {"SIS_WAREHOUSE_URL": f"sqlite:///{scratch / f'cli-{attempt}.sqlite'}",
                             "SIS_STAGING_DIR": str(scratch / "cli-staging")}
            started = time.perf_counter()
            done = subprocess.run([BIN / "sis-pipeline", "sync", "--config", config, "--quiet", "--json"],
                                  env=run_env, capture_output=True, text=True)
            cli_seconds.append(time.perf_counter() - started)
            status = json.loads(done.stdout)["integrations"][NAME]["status"]
            if status != "success":
                raise RuntimeError(f"CLI sync {status}: {done.stderr[-2000:]}")
            progress(f"cli run {attempt + 1}: {cli_seconds[-1]:.1f}s")

        home = scratch / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        ui_port = free_port()
        ui_env = env | {"DAGSTER_HOME": str(home), "SIS_PIPELINE_CONFIG": str(config),
                        "SIS_WAREHOUSE_URL": f"sqlite:///{scratch / 'ui.sqlite'}", "SIS_STAGING_DIR": str(scratch / "ui-staging")}
        progress("starting dagster dev (webserver and daemon)")
        dev = subprocess.Popen(
            [BIN / "dagster", "dev", "-w", REPO / "workspace.yaml", "-p", str(ui_port), "-h", "127.0.0.1"],
            cwd=REPO, env=ui_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        processes.append(dev)
        wait_for(f"http://127.0.0.1:{ui_port}/server_info", dev)
        client = DagsterGraphQLClient("127.0.0.1", port_number=ui_port)
        ui_seconds = []
        for attempt in range(args.repeat):
            started = time.perf_counter()
            run_id = client.submit_job_execution("__ASSET_JOB", tags={"dagster/partition": NAME})
            while (status := client.get_run_status(run_id).value) not in ("SUCCESS", "FAILURE", "CANCELED"):
                time.sleep(0.1)
            ui_seconds.append(time.perf_counter() - started)
            if status != "SUCCESS":
                raise RuntimeError(f"UI run {run_id} ended {status}")
            progress(f"ui run {attempt + 1}: {ui_seconds[-1]:.1f}s")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # dagster dev's webserver and daemon too
                process.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)

    cli, ui = sorted(cli_seconds)[len(cli_seconds) // 2], sorted(ui_seconds)[len(ui_seconds) // 2]
    result = {"students": args.students, "runs_per_path": args.repeat, "cli_median_s": round(cli, 2),
              "ui_median_s": round(ui, 2), "ui_over_cli": round(ui / cli, 2),
              "cli_s": [round(s, 2) for s in cli_seconds], "ui_s": [round(s, 2) for s in ui_seconds]}
    print(json.dumps(result, indent=2))
    print(f"UI run / CLI run (median of {args.repeat}): {ui:.1f}s / {cli:.1f}s = {ui / cli:.2f}x", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
