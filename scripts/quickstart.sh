#!/usr/bin/env bash
# The README's first command: install, start a simulated district, sync it into the embedded SQLite
# warehouse (.data/warehouse.sqlite) and print the summary. Safe to run again: the second sync writes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

STUDENTS=${STUDENTS:-2000}
PORT=${PORT:-8201}

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/python -m pip install --quiet -e simulators/   # the simulated district is a separate distribution

# Demo credentials for the simulator only; a real integration reads its own from the environment.
export SIS_SIM_CLIENT_ID=demo-client SIS_SIM_CLIENT_SECRET="demo-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export DEMO_ONEROSTER_CLIENT_ID=$SIS_SIM_CLIENT_ID DEMO_ONEROSTER_CLIENT_SECRET=$SIS_SIM_CLIENT_SECRET

.venv/bin/sis-pipeline simulate oneroster --students "$STUDENTS" --port "$PORT" > .data-simulator.log 2>&1 &
simulator=$!
trap 'kill $simulator 2>/dev/null || true; rm -f .data-simulator.log' EXIT
for _ in $(seq 1 100); do
  if .venv/bin/python -c "import httpx,sys; httpx.get('http://127.0.0.1:$PORT/admin/totals').raise_for_status()" 2>/dev/null; then
    break
  fi
  if ! kill -0 $simulator 2>/dev/null; then cat .data-simulator.log; exit 1; fi
  sleep 0.2
done

.venv/bin/sis-pipeline sync --config examples/integrations.demo.yaml
