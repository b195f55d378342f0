"""The README's first hour, run as written: quickstart.sh, then demo-ui.sh and the UI section's shell commands."""

import re
import signal
import socket
import subprocess

import pytest

from sis_pipeline_tests.first_hour import (
    DEMO_PARTITION,
    REPO,
    clean_clone,
    demo_ui,
    describe_processes,
    free_port,
    kill_session,
    session_processes,
    user_environment,
)

COUNT_COLUMNS = ("fetched", "valid", "rejected", "inserted", "updated", "unchanged", "archived")


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"### {title}\n")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def code_blocks(section: str) -> list[list[str]]:
    """The command lines of each ```bash block, comments cut off."""
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [[line.split("  #")[0].strip() for line in block.splitlines() if line.strip()] for block in blocks]


def test_the_ui_section_runs_the_demo_script_then_shell_commands_on_the_demo_partition():
    blocks = code_blocks(readme_section("The Dagster UI"))
    assert blocks[0] == ["bash scripts/demo-ui.sh"]
    assert blocks[1][0] == "source .data/dagster/demo.env"
    assert all(f"--partition {DEMO_PARTITION}" in line for line in blocks[1][1:])
    assert len(blocks) == 2 and "springfield" not in readme_section("The Dagster UI")


def summary_table(stdout: str) -> dict[str, dict[str, int]]:
    rows = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) == 1 + len(COUNT_COLUMNS) and all(f.isdigit() for f in fields[1:]):
            rows[fields[0]] = dict(zip(COUNT_COLUMNS, map(int, fields[1:]), strict=True))
    return rows


def run_quickstart(clone, port: int) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        ["bash", "scripts/quickstart.sh"], cwd=clone, env=user_environment(STUDENTS="300", PORT=str(port)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=300)
        left = session_processes(process.pid)
        assert left == [], f"quickstart.sh left processes behind:\n{describe_processes(left)}"
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    finally:
        kill_session(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait()


def test_quickstart_syncs_the_demo_district_and_a_second_run_writes_nothing(tmp_path):
    clone, port = clean_clone(tmp_path), free_port()

    first = run_quickstart(clone, port)

    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{DEMO_PARTITION}: success in" in first.stdout
    counts = summary_table(first.stdout)
    assert set(counts) == {"schools", "terms", "courses", "sections", "students", "teachers", "enrollments"}
    assert counts["students"]["inserted"] == 300 and counts["enrollments"]["rejected"] == 0
    assert (clone / ".data" / "warehouse.sqlite").exists()

    again = run_quickstart(clone, port)

    assert again.returncode == 0, again.stderr[-3000:]
    assert all(c["inserted"] == c["updated"] == 0 for c in summary_table(again.stdout).values()), again.stdout


def runs(first_hour) -> list[dict]:
    query = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    return first_hour.graphql(query)["runsOrError"]["results"]


def test_demo_ui_serves_the_demo_takes_the_readme_shell_commands_and_stops_on_ctrl_c(tmp_path):
    clone = clean_clone(tmp_path)
    with demo_ui(clone) as first_hour:
        nodes = first_hour.graphql("{ assetNodes { assetKey { path } partitionKeysByDimension { partitionKeys } } }")["assetNodes"]
        keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
        assert {"raw_rosters", "resolved_rosters", "warehouse/students", "warehouse/enrollments"} <= keys
        assert all(n["partitionKeysByDimension"][0]["partitionKeys"] == [DEMO_PARTITION] for n in nodes)
        assert f"http://127.0.0.1:{first_hour.ui_port}" in first_hour.output()

        # The UI section's shell block, as written, in a second shell beside the running demo.
        shell = "\n".join(["set -euo pipefail", "export PATH=$PWD/.venv/bin:$PATH", *code_blocks(readme_section("The Dagster UI"))[1]])
        done = subprocess.run(["bash", "-c", shell], cwd=clone, env=user_environment(), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        # ... recorded in the demo's instance, so the UI shows them, against the demo's warehouse.
        recorded = runs(first_hour)
        assert [r["status"] for r in recorded] == ["SUCCESS", "SUCCESS"]
        assert all({"key": "dagster/partition", "value": DEMO_PARTITION} in r["tags"] for r in recorded)
        assert (clone / ".data" / "warehouse.sqlite").exists()

        process = first_hour.process
        status = first_hour.stop(signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group

        assert status == 130, first_hour.output()[-3000:]
        left = session_processes(process.pid)
        assert left == [], f"demo-ui.sh left processes behind:\n{describe_processes(left)}"
        for port in (first_hour.ui_port, first_hour.sim_port):
            with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
                pass
        assert "Dagster services shut down" in first_hour.output()
