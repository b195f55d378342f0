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


def classify(exc: BaseException) -> str:
    """The error class of any exception, for `sync_runs` and run metadata."""
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
    return "internal"
