#!/usr/bin/env bash
# The README's first command: install, start a simulated district, sync it into the embedded SQLite
# warehouse (.data/warehouse.sqlite) and print the summary. Safe to run again: the second sync writes nothing.
#   STUDENTS  size of the district (default 2000); PORT  the simulator's port (default 8201)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo-lib.sh

STUDENTS=${STUDENTS:-2000}
PORT=${PORT:-$DEMO_PORT}

demo_install
config=$(demo_config "$PORT")
demo_credentials

(umask 077 && mkdir -p .data)
simulator=""
trap '[ -z "$simulator" ] || { kill $simulator 2>/dev/null; wait $simulator; } || true; rm -f .data/quickstart-simulator.log' EXIT
demo_simulator "$STUDENTS" "$PORT" .data/quickstart-simulator.log

.venv/bin/sis-pipeline sync --config "$config"
