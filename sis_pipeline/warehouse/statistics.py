"""Planner statistics of the roster tables, refreshed when a load has outrun them.

PostgreSQL plans a join by the rows it believes a table holds. Right after a full sync (a fresh
warehouse, or one that changed a lot) autovacuum has not yet analyzed the tables, every filter looks
like it keeps a handful of rows and the checks' anti-joins become nested loops: 40 s instead of a few
on a 100,000-student district. ANALYZE samples a fixed number of rows, under a second at that size.
SQLite plans from its indexes alone; there is nothing to refresh.
"""

from sqlalchemy import Connection, bindparam, text

# autovacuum's own default (autovacuum_analyze_scale_factor): more changed than this since the last
# ANALYZE and the statistics are stale
STALE_FRACTION = 0.1

_STALE = text(
    "SELECT relname FROM pg_stat_user_tables "
    "WHERE relname IN :tables AND schemaname = current_schema() "
    "AND (coalesce(last_analyze, last_autoanalyze) IS NULL OR n_mod_since_analyze > :fraction * greatest(n_live_tup, 1))"
).bindparams(bindparam("tables", expanding=True))


def refresh_statistics(conn: Connection, tables: list[str]) -> list[str]:
    """ANALYZE those of `tables` whose statistics are missing or stale; returns their names."""
    if conn.dialect.name != "postgresql":
        return []
    stale = list(conn.execute(_STALE, {"tables": tables, "fraction": STALE_FRACTION}).scalars())
    for name in stale:
        conn.execute(text(f'ANALYZE "{name}"'))  # names from our own schema, not from input
    conn.commit()
    return stale
