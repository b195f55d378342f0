#!/usr/bin/env bash
# Issue 2's acceptance run: `sis-pipeline sync --json` against a simulated district (default 100,000
# students) into a fresh PostgreSQL database, twice. Checks every entity against the simulator's
# totals, that the second run writes nothing, and that a dump of the warehouse holds no secret.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/sis-simulate ]]; then
    echo "acceptance_100k.sh: the simulators are not installed: .venv/bin/python -m pip install -e simulators/" >&2
    exit 2
fi
STUDENTS=${STUDENTS:-100000}
PORT=${PORT:-8301}
PGURL=${PGURL:-postgresql://postgres@127.0.0.1:5432}
DB="sis_acceptance_$$"
work=$(mktemp -d)

export SIS_SIM_CLIENT_ID=acceptance-client
SIS_SIM_CLIENT_SECRET="acc-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export SIS_SIM_CLIENT_SECRET
export ACC_ID=$SIS_SIM_CLIENT_ID ACC_SECRET=$SIS_SIM_CLIENT_SECRET
export SIS_WAREHOUSE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/$DB" SIS_STAGING_DIR="$work/staging"

psql "$PGURL/postgres" -qc "CREATE DATABASE $DB"
.venv/bin/sis-simulate oneroster --students "$STUDENTS" --port "$PORT" > "$work/simulator.log" 2>&1 &
simulator=$!
trap 'kill $simulator 2>/dev/null || true; psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB" || true; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$PORT/admin/totals" > "$work/totals.json"; do sleep 0.5; done

cat > "$work/integrations.yaml" <<YAML
integrations:
  - name: acceptance
    provider: oneroster
    base_url: http://127.0.0.1:$PORT/ims/oneroster/v1p1
    token_url: http://127.0.0.1:$PORT/oauth/token
    client_id_env: ACC_ID
    client_secret_env: ACC_SECRET
    page_size: 1000
YAML

for run in first second; do
  /usr/bin/time -f "$run run: %e s wall, %M KiB peak RSS" \
    .venv/bin/sis-pipeline sync --config "$work/integrations.yaml" --json --quiet > "$work/$run.json"
done
pg_dump "$PGURL/$DB" > "$work/dump.sql"

.venv/bin/python - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
totals = json.load(open(f"{work}/totals.json"))
source = {"schools": "schools", "terms": "academicSessions", "courses": "courses", "sections": "classes",
          "students": "students", "teachers": "teachers", "enrollments": "enrollments"}
first = json.load(open(f"{work}/first.json"))["integrations"]["acceptance"]
second = json.load(open(f"{work}/second.json"))["integrations"]["acceptance"]
print(f"{'entity':<12}{'simulator':>10}{'inserted':>10}{'2nd ins':>9}{'2nd upd':>9}{'2nd same':>10}")
ok = first["status"] == second["status"] == "success"
for entity, collection in source.items():
    a, b = first["entities"][entity], second["entities"][entity]
    print(f"{entity:<12}{totals[collection]:>10}{a['inserted']:>10}{b['inserted']:>9}{b['updated']:>9}{b['unchanged']:>10}")
    ok &= a["inserted"] == totals[collection] == b["unchanged"] and b["inserted"] == b["updated"] == 0
dump = open(f"{work}/dump.sql", encoding="utf-8").read()
secret_found = os.environ["SIS_SIM_CLIENT_SECRET"] in dump
print(f"first run {first['seconds']} s, second run {second['seconds']} s; dump {len(dump) // 1_000_000} MB, "
      f"client secret in dump: {secret_found}")
sys.exit(0 if ok and not secret_found else 1)
PY
