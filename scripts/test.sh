#!/usr/bin/env bash
# The test command: a virtualenv with the package, its test extras and the simulators, PostgreSQL if installed,
# pytest over sis_pipeline_tests and simulators/tests (testpaths in pyproject.toml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python=""
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            python=$candidate
            break
        fi
    done
    if [[ -z "$python" ]]; then
        echo "test.sh: needs Python 3.11 or newer as python3 (or python3.11+)" >&2
        exit 1
    fi
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
# The simulators are their own distribution: the tests serve synthetic districts with them, and test them.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e simulators/
# A provider shipped as its own package: the plugin tests use it through its entry point.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e sis_pipeline_tests/plugins/example_provider
touch .venv/.sis-pipeline-installed   # quickstart.sh and demo-ui.sh reinstall only when a pyproject.toml is newer
# The browser test drives Debian's chromium with Playwright (never a downloaded browser); as root, install it.
if [[ ! -x /usr/bin/chromium ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    chromium=(apt-get install -y -qq --no-install-recommends chromium)
    { "${chromium[@]}" || { apt-get update -qq && "${chromium[@]}"; }; } >/dev/null 2>&1 ||
        echo "test.sh: could not install chromium; the browser test will skip (fail under CI=true)" >&2
fi
bash scripts/ensure_postgres.sh
# Three workers on two cores: much of the suite waits on simulators, PostgreSQL and subprocesses (with two,
# a third of the CPU sat idle). Tests sharing a fixed port are grouped onto one worker (xdist_group).
.venv/bin/python -m pytest -q -n "${SIS_TEST_WORKERS:-3}" --dist loadgroup "$@"
