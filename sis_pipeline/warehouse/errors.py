"""What can go wrong between a canonical frame and the warehouse, each error naming where."""


class WarehouseError(Exception):
    """Base class for warehouse failures."""


class WarehouseUrlError(WarehouseError):
    """The warehouse URL cannot be used (never shows the password)."""


class WarehouseLoadError(WarehouseError):
    """A staged frame does not fit the canonical contract of its entity."""


class WarehouseSafetyError(WarehouseError):
    """A load would have done something a district would not want, so nothing was written."""


class WarehouseSchemaError(WarehouseError):
    """The warehouse's schema cannot be brought to this release's revision (nothing was changed)."""


class RunInProgressError(WarehouseError):
    """Another run of the same integration holds its run lock; this run was refused and changed nothing."""


class SyncHeld(WarehouseError):
    """A load would have changed too much of the roster: nothing was applied, the run is held for a person.

    `report` is what the load would have done (counts per entity, sample source ids), as stored with the hold.
    """

    def __init__(self, message: str, *, integration: str, run_id: str, report: dict):
        super().__init__(message)
        self.integration = integration
        self.run_id = run_id
        self.report = report


class WarehouseUnavailableError(WarehouseError):
    """The warehouse could not be reached, or the connection to it was lost (the server's reason included)."""


class WarehouseTimeoutError(WarehouseError):
    """The warehouse kept the run waiting longer than its configured limit (connect, lock or statement)."""
