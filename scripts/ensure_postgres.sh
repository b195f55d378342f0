#!/usr/bin/env bash
# Make sure the local PostgreSQL answers on 127.0.0.1:5432 when one is installed. Never fails:
# without PostgreSQL the test suite starts a throwaway cluster, or skips (fails under CI=true).
set -euo pipefail

pg_isready_bin=$(command -v pg_isready || ls /usr/lib/postgresql/*/bin/pg_isready 2>/dev/null | sort -V | tail -n 1 || true)

answers() {
    [[ -n "$pg_isready_bin" ]] && "$pg_isready_bin" -q -h 127.0.0.1 -p 5432
}

if answers; then
    exit 0
fi
if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    for version in $(ls /etc/postgresql); do
        if [[ -d "/etc/postgresql/$version/main" ]]; then
            echo "ensure_postgres: starting PostgreSQL $version cluster 'main'" >&2
            pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
                echo "ensure_postgres: could not start PostgreSQL $version (tests will fall back)" >&2
        fi
    done
fi
answers || echo "ensure_postgres: nothing answers on 127.0.0.1:5432; the tests will start or skip PostgreSQL" >&2
