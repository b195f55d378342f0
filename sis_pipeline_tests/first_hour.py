"""Running the README's first-hour scripts as a new user would: in a copy of the repository, in a session of
their own (every process they start is found, and killed, by its session id), on free ports."""

import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sis_pipeline_tests.helpers import copy_checkout

REPO = Path(__file__).resolve().parents[1]
DEMO_PARTITION = "demo_district"
# What the environment of a new user's shell must not carry into the scripts.
FOREIGN = ("DAGSTER_", "SIS_", "DEMO_", "STUDENTS", "PORT", "SIM_PORT", "UI_PORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_clone(tmp_path: Path) -> Path:
    """The repository's files as a fresh clone has them, plus this checkout's installed .venv (linked).

    The scripts install into .venv only when it lacks the package or a pyproject.toml is newer than its
    stamp (scripts/test.sh touches it), so they run here without re-pointing the editable install.
    """
    clone = copy_checkout(tmp_path)
    (clone / ".venv").symlink_to(REPO / ".venv")
    (REPO / ".venv" / ".sis-pipeline-installed").touch()  # the venv running this test has both installed
    return clone


def user_environment(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    return env | extra


def session_processes(sid: int) -> list[int]:
    """Every live (not zombie) process in the session `sid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def describe_processes(pids: list[int]) -> str:
    lines = []
    for pid in pids:
        try:
            lines.append(f"{pid}: " + Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:
            lines.append(f"{pid}: gone")
    return "\n".join(lines)


def kill_session(sid: int) -> None:
    for pid in session_processes(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class FirstHour:
    clone: Path
    process: subprocess.Popen
    ui_port: int
    sim_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def simulator(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    def stop(self, signum: int, timeout: float = 60) -> int:
        """Signal the script's process group as a terminal (Ctrl-C) or a service manager would; its exit status."""
        os.killpg(self.process.pid, signum)
        return self.process.wait(timeout=timeout)


def asset_keys(first_hour: FirstHour) -> list[str]:
    data = first_hour.graphql("{ assetNodes { assetKey { path } partitionKeysByDimension { partitionKeys } } }")
    return data["assetNodes"]


@contextmanager
def demo_ui(clone: Path, *, students: int = 300, startup_timeout: float = 150):
    """`bash scripts/demo-ui.sh` in `clone` on free ports, up (the UI lists the demo's assets); killed whatever happens."""
    sim_port, ui_port = free_port(), free_port()
    log = clone.parent / "demo-ui.log"
    env = user_environment(STUDENTS=str(students), SIM_PORT=str(sim_port), UI_PORT=str(ui_port))
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", "scripts/demo-ui.sh"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    first_hour = FirstHour(clone, process, ui_port, sim_port, log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            assert process.poll() is None, f"demo-ui.sh exited {process.returncode}:\n{first_hour.output()[-4000:]}"
            assert time.monotonic() < deadline, f"no Dagster UI after {startup_timeout}s:\n{first_hour.output()[-4000:]}"
            try:
                if asset_keys(first_hour):
                    break
            except (httpx.HTTPError, AssertionError):
                pass
            time.sleep(1)
        yield first_hour
    finally:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        kill_session(process.pid)
        process.wait(timeout=10)
