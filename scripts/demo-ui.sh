#!/usr/bin/env bash
# The first hour in the Dagster UI: the quickstart's simulated district (the OneRoster simulator on loopback
# with the demo credentials examples/integrations.demo.yaml names) and `dagster dev` on 127.0.0.1 against the
# quickstart's warehouse (.data/warehouse.sqlite) and staging, with runs kept in .data/dagster.
# Ctrl-C (or SIGTERM) stops both.
#   STUDENTS  size of the district (default 2000)
#   SIM_PORT  the simulator's port (default 8201, the demo config's; another port uses a copy of it under .data/)
#   UI_PORT   the Dagster UI's port (default 3000)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/demo-lib.sh

STUDENTS=${STUDENTS:-2000}
SIM_PORT=${SIM_PORT:-$DEMO_PORT}
UI_PORT=${UI_PORT:-3000}

demo_install
(umask 077 && mkdir -p .data/dagster)
export DAGSTER_HOME=$PWD/.data/dagster         # runs, event logs and schedule/sensor state persist here
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"   # the repository's instance settings (one run per integration)
SIS_PIPELINE_CONFIG=$(demo_config "$SIM_PORT")
# The quickstart's warehouse and staging, whatever else is exported.
export SIS_PIPELINE_CONFIG SIS_WAREHOUSE_URL=sqlite:///$PWD/.data/warehouse.sqlite SIS_STAGING_DIR=$PWD/.data/staging
demo_credentials
# The same environment for a second shell (`source .data/dagster/demo.env`), e.g. for `dagster asset materialize`.
(umask 077 && for name in DAGSTER_HOME SIS_PIPELINE_CONFIG SIS_WAREHOUSE_URL SIS_STAGING_DIR DEMO_ONEROSTER_CLIENT_ID DEMO_ONEROSTER_CLIENT_SECRET; do
  printf 'export %s=%q\n' "$name" "${!name}"
done > .data/dagster/demo.env)

# Each child in a process group of its own (job control), so that a Ctrl-C or a SIGTERM to this script's
# group reaches them once, from stop(): dagster dev shuts its webserver, daemon and code server down on one
# SIGINT, and a second one in the middle of that would cut its shutdown short.
set -m
simulator="" dagster=""
stop() {
  trap - EXIT INT TERM
  if [ -n "$dagster" ]; then kill -INT "$dagster" 2>/dev/null || true; fi
  if [ -n "$simulator" ]; then kill -TERM "$simulator" 2>/dev/null || true; fi
  for pid in $dagster $simulator; do wait "$pid" 2>/dev/null || true; done
  # dagster dev leaves its code server to notice the missing heartbeat (up to a minute): end it now.
  if [ -n "$dagster" ] && kill -TERM -- "-$dagster" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 -- "-$dagster" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$dagster" 2>/dev/null || true
  fi
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

demo_simulator "$STUDENTS" "$SIM_PORT" .data/dagster/simulator.log
echo "demo-ui: a simulated district of $STUDENTS students answers on http://127.0.0.1:$SIM_PORT (log: .data/dagster/simulator.log)"
echo "demo-ui: the Dagster UI will be at http://127.0.0.1:$UI_PORT (partition demo_district); Ctrl-C stops both"
echo "demo-ui: the same from another shell: source .data/dagster/demo.env"

# dagster dev starts its webserver and daemon at once; on a fresh DAGSTER_HOME both would create the
# SQLite storage and one can lose the race. Create (or upgrade) it first.
(cd "$DAGSTER_HOME" && "$OLDPWD/.venv/bin/dagster" instance migrate >/dev/null)

# From its home, so that dagster dev does not warn about the repository's dagster.yaml (copied there), and
# with SIGINT's default handler even if this script was started with SIGINT ignored (nohup, `&`): dagster
# dev stops cleanly on SIGINT or SIGTERM only then.
(cd "$DAGSTER_HOME" && exec "$OLDPWD/.venv/bin/python" -c \
  'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
  "$OLDPWD/.venv/bin/dagster" dev -w "$OLDPWD/workspace.yaml" -h 127.0.0.1 -p "$UI_PORT") &
dagster=$!
wait "$dagster"
