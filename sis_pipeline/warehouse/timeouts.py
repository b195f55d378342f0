"""How long the warehouse may keep a run waiting: to connect, for a lock, for one statement.

A run that waits without bound looks exactly like a run that is working, so every wait has a limit
an operator can read in the README and change through the environment.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sis_pipeline.config import ConfigError

CONNECT_ENV = "SIS_WAREHOUSE_CONNECT_TIMEOUT"
LOCK_ENV = "SIS_WAREHOUSE_LOCK_TIMEOUT"
STATEMENT_ENV = "SIS_WAREHOUSE_STATEMENT_TIMEOUT"
# Seconds. The statement limit is generous: it is there to end a run stuck on a server that never
# finishes, not to race a large district's load (100,000 students upsert in well under a minute).
DEFAULTS = {CONNECT_ENV: 10, LOCK_ENV: 60, STATEMENT_ENV: 1800}
# TCP keepalives: a server or network that vanishes mid-run is noticed within about a minute
# instead of the operating system's default of two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


@dataclass(frozen=True)
class WarehouseTimeouts:
    """Whole seconds; 0 means no limit (PostgreSQL's own convention for all three settings)."""

    connect: int = DEFAULTS[CONNECT_ENV]
    lock: int = DEFAULTS[LOCK_ENV]
    statement: int = DEFAULTS[STATEMENT_ENV]

    def postgresql_settings(self) -> dict[str, str]:
        """Session settings applied to every warehouse connection, in milliseconds as PostgreSQL reads them."""
        return {"lock_timeout": str(self.lock * 1000), "statement_timeout": str(self.statement * 1000)}


def warehouse_timeouts(env: Mapping[str, str] = os.environ) -> WarehouseTimeouts:
    """The configured limits; a value that is not a whole number of seconds is refused, naming the variable."""
    return WarehouseTimeouts(*(_seconds(env, name) for name in (CONNECT_ENV, LOCK_ENV, STATEMENT_ENV)))


def _seconds(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{name}={raw!r}: expected a whole number of seconds (0 for no limit); default {DEFAULTS[name]}")
    return value
