"""What a district installs: the `sis-pipeline` wheel carries no simulator code and no web server.

The simulators are their own distribution (`simulators/`, `sis-simulators`); starlette and uvicorn
are theirs alone. The wheel is built with pip exactly as a release would be, from a clean copy of
the source tree, so a stale `build/` left by an earlier build can neither leak into it nor be created.
"""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIMULATOR_PACKAGES = ("sis_simulators/", "sis_pipeline/simulators/", "simulators/")
WEB_SERVER = {"starlette", "uvicorn"}
# Generated or local state that never belongs in a build; everything else is copied as it is.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".data", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "results"
)
WEB_SERVER_IMPORT = re.compile(r"^\s*(?:from|import)\s+(starlette|uvicorn)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    work = tmp_path_factory.mktemp("wheel")
    source, out = work / "source", work / "out"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(out)],
        cwd=source, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("sis_pipeline-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def requirement_names(metadata: str) -> set[str]:
    """Distribution names of every Requires-Dist line, normalised (PEP 503), extras included."""
    names = set()
    for value in re.findall(r"^Requires-Dist:\s*(.+)$", metadata, re.MULTILINE):
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", value).group(0)
        names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def test_the_wheel_holds_the_product_and_no_simulator_code(wheel):
    names = wheel.namelist()
    assert "sis_pipeline/cli.py" in names and "sis_pipeline/providers/oneroster/client.py" in names and "sis_pipeline/warehouse/migrations/script.py.mako" in names
    simulator_files = [name for name in names if name.startswith(SIMULATOR_PACKAGES)]
    assert simulator_files == [], f"simulator code in the sis-pipeline wheel: {simulator_files[:10]}"
    importing = [
        name for name in names if name.endswith(".py") and WEB_SERVER_IMPORT.search(wheel.read(name).decode("utf-8"))
    ]
    assert importing == [], f"modules of the sis-pipeline wheel import a web server: {importing}"


def test_the_wheel_requires_neither_starlette_nor_uvicorn(wheel):
    (metadata_name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    required = requirement_names(wheel.read(metadata_name).decode("utf-8"))
    assert {"dagster", "httpx", "sqlalchemy"} <= required  # the METADATA was read, not an empty list
    assert not required & (WEB_SERVER | {"sis-simulators"}), sorted(required & (WEB_SERVER | {"sis-simulators"}))
