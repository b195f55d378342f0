"""Warehouse failures told in one line an operator can act on: what failed, where, and the server's own words.

SQLAlchemy reports a refused connection, a lost one and a lock timeout alike as `OperationalError`,
with the statement, its parameters and a link appended. The engine translates the failures an
operator must act on (connect, lost connection, timeouts) into typed warehouse errors naming the
warehouse without its password; the original stays chained as the cause.
"""

import re
import sqlite3

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from sis_pipeline.warehouse.errors import WarehouseError, WarehouseTimeoutError, WarehouseUnavailableError
from sis_pipeline.warehouse.timeouts import CONNECT_ENV, LOCK_ENV, STATEMENT_ENV, WarehouseTimeouts

_STATEMENT_CHARS = 120


def translate_failures(engine: Engine, timeouts: WarehouseTimeouts) -> None:
    """Connect failures, lost connections and timeouts on this engine raise typed, one-line warehouse errors."""
    shown = engine.url.render_as_string(hide_password=True)
    password = engine.url.password

    @event.listens_for(engine, "handle_error")
    def _translate(ctx: ExceptionContext):
        if ctx.is_pre_ping:  # the pool replaces a stale connection by itself
            return None
        return warehouse_failure(
            ctx.original_exception,
            shown,
            timeouts,
            statement=ctx.statement,
            connecting=ctx.connection is None,
            disconnected=ctx.is_disconnect,
            secret=str(password) if password else None,
        )


def warehouse_failure(
    original: BaseException,
    shown: str,
    timeouts: WarehouseTimeouts,
    *,
    statement: str | None = None,
    connecting: bool = False,
    disconnected: bool = False,
    secret: str | None = None,
) -> WarehouseError | None:
    """The typed error for a driver failure an operator must act on, or None to leave it as it is."""
    reason = server_reason(original, secret)
    where = f" at: {_short(statement)}" if statement else ""
    if isinstance(original, psycopg.errors.LockNotAvailable) or (
        isinstance(original, sqlite3.OperationalError) and "database is locked" in reason
    ):
        return WarehouseTimeoutError(
            f"waited more than {timeouts.lock} s ({LOCK_ENV}) for a lock another session holds in the warehouse "
            f"at {shown}{where}"
        )
    if isinstance(original, psycopg.errors.QueryCanceled) and "statement timeout" in reason:
        return WarehouseTimeoutError(
            f"a statement ran longer than {timeouts.statement} s ({STATEMENT_ENV}) in the warehouse at {shown}{where}"
        )
    if connecting:
        if isinstance(original, psycopg.OperationalError) and "timeout expired" in reason:
            return WarehouseTimeoutError(
                f"could not connect to the warehouse at {shown} within {timeouts.connect} s ({CONNECT_ENV}): "
                "the server did not answer"
            )
        return WarehouseUnavailableError(f"could not connect to the warehouse at {shown}: {reason}")
    if disconnected:
        return WarehouseUnavailableError(f"lost the connection to the warehouse at {shown}: {reason}")
    return None


def server_reason(error: BaseException, secret: str | None = None) -> str:
    """The driver's message on one line, without libpq's prefix or anything that looks like the password."""
    reason = " ".join(str(error).split()) or type(error).__name__
    reason = re.sub(r"^connection failed: ", "", reason)
    return reason.replace(secret, "***") if secret else reason


def _short(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= _STATEMENT_CHARS else text[: _STATEMENT_CHARS - 1] + "…"
