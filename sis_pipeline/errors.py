"""Errors a sync can end with, each carrying the class recorded in `sync_runs.error_class`."""


class SyncError(Exception):
    """Base for failures that end an integration's run; `error_class` says what kind."""

    error_class = "data"


class AuthError(SyncError):
    error_class = "auth"


class RateLimitError(SyncError):
    error_class = "rate_limit"


class NetworkError(SyncError):
    error_class = "network"


class ServerError(SyncError):
    error_class = "server"


class DataError(SyncError):
    error_class = "data"


class ClientError(SyncError):
    """A 4xx answer other than auth or throttling: a request we built wrongly or a missing record."""

    error_class = "data"


class RunInterrupted(KeyboardInterrupt):
    """A signal (SIGTERM, SIGINT) asked the process to stop.

    A KeyboardInterrupt, so psycopg cancels the statement in flight and every `except Exception`
    on the way lets it pass.
    """

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


def classify(exc: BaseException) -> str:
    """The error class of any exception, for `sync_runs` and run metadata.

    The first exception in the chain (the exception, then what caused it) whose class is known decides:
    a failure wrapped on its way up keeps the class of what went wrong.
    """
    if any(_is_interruption(link) for link in _context_chain(exc)):
        # A failure while unwinding from a signal (a rollback on a connection the signal left busy) is
        # the interruption's consequence, not a failure of its own.
        return "interrupted"
    for link in cause_chain(exc):
        error_class = _own_class(link)
        if error_class:
            return error_class
    return "internal"


def _is_interruption(exc: BaseException) -> bool:
    # Dagster's interruption is recognised by name: this module is part of the Dagster-free core.
    return isinstance(exc, (KeyboardInterrupt, SystemExit)) or type(exc).__name__ == "DagsterExecutionInterruptedError"


def _context_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _own_class(exc: BaseException) -> str | None:
    import sqlalchemy.exc

    from sis_pipeline.config import ConfigError
    from sis_pipeline.warehouse.errors import RunInProgressError, WarehouseError, WarehouseSafetyError

    if isinstance(exc, SyncError):
        return exc.error_class
    if isinstance(exc, RunInProgressError):
        return "concurrent_run"
    if isinstance(exc, ConfigError):
        return "config"
    if isinstance(exc, WarehouseSafetyError):
        return "data"
    if isinstance(exc, WarehouseError):
        return "warehouse"
    if isinstance(exc, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.DataError)):
        return "data"  # the warehouse refused a value the roster carried
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        return "warehouse"
    return None


def describe(exc: BaseException) -> str:
    """One line for an operator: the error's own message (never SQL parameters), and where it happened."""
    import sqlalchemy.exc

    interruption = next((link for link in _context_chain(exc) if _is_interruption(link)), exc)
    if interruption is not exc:
        return describe(interruption)
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        # str() of these appends the statement, its parameters (roster values) and a documentation link
        message = f"the warehouse refused a statement: {exc.orig}"
    elif isinstance(exc, KeyboardInterrupt) and not str(exc):
        message = "interrupted by SIGINT"
    elif type(exc).__name__ == "DagsterExecutionInterruptedError":
        message = "interrupted: the run was stopped (a signal to its process, or terminated from the Dagster UI)"
    else:
        message = str(exc) or type(exc).__name__
    notes = "; ".join(getattr(exc, "__notes__", []))
    return " ".join(f"{message} ({notes})".split() if notes else message.split())


def cause_chain(exc: BaseException) -> list[BaseException]:
    """The exception, its explicit cause (`raise ... from`), that one's cause, ...

    Not the implicit context: a bug in an `except` block is not the failure it was handling.
    """
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__
    return chain
