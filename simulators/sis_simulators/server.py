"""Run a simulator (OneRoster or PowerSchool): in a background thread, in a child process, or from the command line.

Both runners bind the listening socket themselves (port 0 picks a free port), so parallel test
sessions never race for a port, and both expose the same helpers for the admin API.
"""

import argparse
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import uvicorn

from sis_simulators.district import District
from sis_simulators.faults import add_fault_options, fault_options, fault_settings_from_options
from sis_simulators.oneroster_app import SimulatorState, create_oneroster_app
from sis_simulators.oneroster_csv import cli as oneroster_csv_cli
from sis_simulators.powerschool import PowerSchoolSettings, PowerSchoolState, create_powerschool_app
from sis_simulators.powerschool.cli import add_settings_options, settings_from_options, settings_options
from sis_simulators.qmlativ import QmlativSettings, create_qmlativ_app
from sis_simulators.qmlativ import cli as qmlativ_cli
from sis_simulators.settings import FLAVOURS, PAGING_HEADER_MODES, SimulatorSettings

LOOPBACK = "127.0.0.1"
CLIENT_ID_ENV = "SIS_SIM_CLIENT_ID"
CLIENT_SECRET_ENV = "SIS_SIM_CLIENT_SECRET"
_BASE_URL_LINE = "base_url "
_STARTUP_TIMEOUT_SECONDS = 30.0
POWERSCHOOL_ROOTS = {"powerschool_api": "/ws/v1", "powerschool_schema": "/ws/schema/table"}


def _oneroster_options(settings: SimulatorSettings) -> list[str]:
    return [
        "--token-ttl", str(settings.token_ttl), "--token-path", settings.token_path,
        "--paging-headers", settings.paging_headers,
        "--default-limit", str(settings.default_limit), "--max-limit", str(settings.max_limit),
        "--flavour", settings.flavour, "--app-name", settings.app_name, "--path-prefix", settings.path_prefix,
        *fault_options(settings.faults),
    ]


class SimulatorKind(NamedTuple):
    create_app: Callable[[District, Any], Any]
    settings_type: type
    # Command-line options that give a child process these settings (credentials travel in the environment).
    settings_options: Callable[[Any], list[str]]


KINDS = {
    "oneroster": SimulatorKind(create_oneroster_app, SimulatorSettings, _oneroster_options),
    "powerschool": SimulatorKind(create_powerschool_app, PowerSchoolSettings, settings_options),
    "qmlativ": SimulatorKind(create_qmlativ_app, QmlativSettings, qmlativ_cli.settings_options),
}


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the OS pick a free port (read it back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def _uvicorn_server(app, access_log: bool = False) -> uvicorn.Server:
    # Access logs cost throughput and would echo query strings; headers are never logged.
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=access_log, lifespan="off"))


def _wait_until_answering(base_url: str, deadline: float, alive: Callable[[], bool]) -> None:
    while True:
        if not alive():
            raise RuntimeError(f"the simulator at {base_url} stopped while starting")
        try:
            httpx.get(f"{base_url}/admin/totals", timeout=2.0).raise_for_status()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the simulator at {base_url} did not answer in time") from None
            time.sleep(0.02)


class _SimulatorClient:
    """URLs and admin-API helpers shared by the thread and process runners."""

    base_url: str
    settings: SimulatorSettings | PowerSchoolSettings

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    @property
    def client_secret(self) -> str:
        return self.settings.client_secret

    @property
    def token_url(self) -> str:
        return f"{self.base_url}{self.settings.token_path}"

    def oneroster_root(self, version: str = "1.2") -> str:
        return f"{self.base_url}{self.settings.roots()[version]}"

    def _admin(self, method: str, path: str, payload=None):
        response = httpx.request(method, f"{self.base_url}/admin/{path}", json=payload, timeout=60.0)
        if response.is_error:
            raise RuntimeError(f"simulator admin {method} /admin/{path} answered {response.status_code}: {response.text}")
        return response.json()

    def totals(self) -> dict[str, int]:
        return self._admin("GET", "totals")

    def apply_changes(self, changes: list[dict]) -> dict:
        return self._admin("POST", "changes", changes)

    def update_settings(self, **changes) -> dict:
        return self._admin("POST", "settings", changes)

    def stats(self) -> dict:
        return self._admin("GET", "stats")

    def expire_tokens(self) -> int:
        return self._admin("POST", "tokens/expire")["expired"]

    def reset(self) -> dict[str, int]:
        return self._admin("POST", "reset")


class SimulatorServer(_SimulatorClient):
    """The simulator on a free loopback port, served from a background thread of this process."""

    def __init__(
        self, students: int = 1000, *, kind: str = "oneroster", seed: int = 42, school_year: int = 2027,
        settings: SimulatorSettings | PowerSchoolSettings | None = None,
    ):
        self.kind = kind
        self.district = District(students, seed, school_year)
        self.settings = settings or KINDS[kind].settings_type()
        self.app = KINDS[kind].create_app(self.district, self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def state(self) -> SimulatorState | PowerSchoolState:
        """The live roster, tokens and counters, for in-process inspection."""
        return self.app.state.simulator

    def __enter__(self) -> "SimulatorServer":
        self._socket = bind_socket(LOOPBACK, 0)
        self.base_url = f"http://{LOOPBACK}:{self._socket.getsockname()[1]}"
        self._server = _uvicorn_server(self.app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"{self.kind}-simulator", daemon=True
        )
        self._thread.start()
        try:
            _wait_until_answering(self.base_url, time.monotonic() + _STARTUP_TIMEOUT_SECONDS, self._thread.is_alive)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None


class SimulatorProcess(_SimulatorClient):
    """The simulator in a child Python process, so serving never competes with the client's GIL."""

    def __init__(
        self, students: int = 1000, *, kind: str = "oneroster", seed: int = 42, school_year: int = 2027,
        settings: SimulatorSettings | PowerSchoolSettings | None = None,
    ):
        self.kind = kind
        self.students, self.seed, self.school_year = students, seed, school_year
        self.settings = settings or KINDS[kind].settings_type()
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()

    def _command(self) -> list[str]:
        return [
            sys.executable, "-m", "sis_simulators", self.kind,
            "--students", str(self.students), "--seed", str(self.seed), "--school-year", str(self.school_year),
            "--port", "0", *KINDS[self.kind].settings_options(self.settings),
        ]

    def _drain_stdout(self) -> None:
        # Keep reading after startup so the child can never block on a full pipe.
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def __enter__(self) -> "SimulatorProcess":
        # Credentials travel in the environment, never on the command line where `ps` shows them.
        env = {**os.environ, CLIENT_ID_ENV: self.settings.client_id, CLIENT_SECRET_ENV: self.settings.client_secret}
        self._process = subprocess.Popen(self._command(), stdout=subprocess.PIPE, text=True, env=env)
        self._reader = threading.Thread(target=self._drain_stdout, name=f"{self.kind}-simulator-stdout", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        try:
            self.base_url = self._read_base_url(deadline)
            _wait_until_answering(self.base_url, deadline, lambda: self._process.poll() is None)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_base_url(self, deadline: float) -> str:
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("the simulator process did not print its address in time") from None
            if line is None:
                raise RuntimeError(f"the simulator process exited with status {self._process.wait()} before listening")
            if line.startswith(_BASE_URL_LINE):
                return line.removeprefix(_BASE_URL_LINE).strip()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        self._process = self._reader = None


def _add_district_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    """Options every served simulator shares: the district, where to listen, the client credentials."""
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--school-year", type=int, default=2027, help="the ending year, as OneRoster names it")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=port, help="0 picks a free port")
    parser.add_argument("--client-id", default=os.environ.get(CLIENT_ID_ENV, "demo-client"))
    parser.add_argument(
        "--client-secret", default=os.environ.get(CLIENT_SECRET_ENV, "demo-secret"), help=f"prefer ${CLIENT_SECRET_ENV}"
    )
    parser.add_argument("--access-log", action="store_true", help="log each request (slower)")


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Serve a synthetic district over a SIS API.")
    simulators = parser.add_subparsers(dest="simulator", required=True)
    oneroster = simulators.add_parser("oneroster", help="OneRoster 1.1 and 1.2 REST with OAuth client credentials")
    _add_district_arguments(oneroster, port=8201)
    oneroster.add_argument("--token-ttl", type=int, default=3600, help="access token lifetime in seconds")
    oneroster.add_argument("--token-path", help="default /oauth/token (/campus/oauth2/token for infinite_campus)")
    oneroster.add_argument("--paging-headers", choices=PAGING_HEADER_MODES, default="all")
    oneroster.add_argument(
        "--no-paging-headers", dest="paging_headers", action="store_const", const="none",
        help="send neither X-Total-Count nor Link",
    )
    oneroster.add_argument("--default-limit", type=int, default=100)
    oneroster.add_argument("--max-limit", type=int, default=10_000)
    oneroster.add_argument("--flavour", choices=FLAVOURS, default="oneroster", help="infinite_campus: Campus URLs and ids")
    oneroster.add_argument("--path-prefix", default="", help='serve under this path, e.g. "/api" as Skyward SMS 2.0 does')
    oneroster.add_argument("--app-name", default="district", help="the Campus application name (infinite_campus)")
    add_fault_options(oneroster)
    csv_package = simulators.add_parser("oneroster-csv", help="write a OneRoster CSV package (zip or folder)")
    oneroster_csv_cli.add_arguments(csv_package)
    powerschool = simulators.add_parser("powerschool", help="PowerSchool plugin REST API (/ws/v1, /ws/schema/table)")
    _add_district_arguments(powerschool, port=8202)
    add_settings_options(powerschool)
    qmlativ = simulators.add_parser("qmlativ", help="Skyward Qmlativ Generic API (/Generic/{entity}/{Module}/{Object}/...)")
    _add_district_arguments(qmlativ, port=8203)
    qmlativ_cli.add_settings_options(qmlativ)
    return parser


def main(argv: list[str] | None = None, prog: str = "sis-simulate") -> int:
    """`sis-simulate oneroster|powerschool|qmlativ ...`: serve until interrupted (`oneroster-csv` writes a package).

    `prog` names the command in help and usage messages (`sis-pipeline simulate` when sis_pipeline delegates).
    """
    args = _parser(prog).parse_args(argv)
    if args.simulator == "oneroster-csv":
        return oneroster_csv_cli.run(args)
    district = District(args.students, args.seed, args.school_year)
    if args.simulator == "powerschool":
        settings = settings_from_options(args, args.client_id, args.client_secret)
        return _serve(create_powerschool_app(district, settings), settings, args, "PowerSchool", POWERSCHOOL_ROOTS)
    if args.simulator == "qmlativ":
        settings = qmlativ_cli.settings_from_options(args, args.client_id, args.client_secret)
        return _serve(create_qmlativ_app(district, settings), settings, args, "Qmlativ", qmlativ_cli.ROOTS)
    settings = SimulatorSettings(
        client_id=args.client_id, client_secret=args.client_secret, token_ttl=args.token_ttl, token_path=args.token_path,
        paging_headers=args.paging_headers, default_limit=args.default_limit, max_limit=args.max_limit,
        flavour=args.flavour, app_name=args.app_name, path_prefix=args.path_prefix,
        faults=fault_settings_from_options(args),
    )
    roots = {f"oneroster_{version}": root for version, root in settings.roots().items()}
    return _serve(create_oneroster_app(district, settings), settings, args, "OneRoster", roots)


def _serve(app, settings, args: argparse.Namespace, title: str, roots: dict[str, str]) -> int:
    sock = bind_socket(args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    print(f"{title} simulator: {args.students} students, seed {args.seed}, school year {args.school_year}")
    print(f"{_BASE_URL_LINE}{base_url}")
    for name, root in roots.items():
        print(f"{name} {base_url}{root}")
    print(f"token_url {base_url}{settings.token_path}")
    print(f"client_id {settings.client_id}", flush=True)
    _uvicorn_server(app, access_log=args.access_log).run(sockets=[sock])
    return 0
