"""What one step hands the next: small, typed handles to datasets staged on disk, never the data itself."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

SyncMode = Literal["full", "incremental"]
DeliveryMode = Literal["bulk", "delta"]


class Dataset(BaseModel):
    """A Parquet or NDJSON file under the staging folder and how many rows it holds."""

    model_config = ConfigDict(frozen=True)

    path: str
    rows: int


class RawCollection(Dataset):
    """One collection exactly as the SIS sent it, and whether it is the complete set or only changes."""

    mode: DeliveryMode
    seconds: float = 0.0
    # an incremental read: records modified at or after this (None: the whole collection)
    since: datetime | None = None
    # the newest source modification time among the records (the SIS's clock), the watermark's candidate
    newest_change: datetime | None = None
    # the digest of the collection's pages as staged (delivery.py); None on handles staged before it was
    pages_digest: str | None = None


class EntityDatasets(BaseModel):
    """One entity after normalisation: the valid rows, the rejected rows with reasons, and the source count."""

    model_config = ConfigDict(frozen=True)

    mode: DeliveryMode
    fetched: int
    valid: Dataset
    rejected: Dataset
    # columns a related collection did not deliver for some records (the warehouse keeps their values), and for how many
    kept_columns: list[str] = []
    kept_rows: int = 0
    # values dropped or kept from the warehouse while their records load: reason -> records (normalize/warnings.py)
    warnings: dict[str, int] = {}


class Delivery(BaseModel):
    """A delivery's digest (its pages, modes, settings and code) and the settings' digest alone (delivery.py)."""

    model_config = ConfigDict(frozen=True)

    digest: str
    settings: str


class StagedRun(BaseModel):
    """Which integration and run staged the datasets, in which sync mode, and when they were read from the SIS.

    `extracted_at` travels with the data to the load, which never lets it overwrite or archive rows a
    newer load wrote after that moment. None only on handles staged before it was recorded.
    """

    model_config = ConfigDict(frozen=True)

    integration: str
    run_id: str
    mode: SyncMode
    extracted_at: datetime | None = None
    # what the SIS delivered, as digests (delivery.py): a full sync's load records it for the next to match
    delivery: "Delivery | None" = None
    # the run whose delivery this one matched byte for byte (warehouse/unchanged.py): nothing to normalise or load
    unchanged_since: str | None = None


class RawRosters(StagedRun):
    collections: dict[str, RawCollection]
    # the entities normalised while these collections were extracted (normalize/streaming.py), which the
    # same run's normalise step adopts; None when extraction did not normalise (a small district)
    normalized: dict[str, "EntityDatasets"] | None = None


class RosterDatasets(StagedRun):
    entities: dict[str, EntityDatasets]
    # per raw collection, the watermark this run's load may record: its newest change, where none of
    # the records the collection fed was rejected (warehouse/cursors.py)
    watermarks: dict[str, datetime] = {}
    # what the SIS's values do to local edits (resolve/conflicts.py): applied in the load's transaction
    conflicts: Dataset | None = None

    def with_entity(self, entity: str, datasets: EntityDatasets) -> "RosterDatasets":
        return self.model_copy(update={"entities": {**self.entities, entity: datasets}})

    def full_load(self, entity: str) -> bool:
        """A full sync of a complete delivery: what the SIS no longer lists may be archived."""
        return self.mode == "full" and self.entities[entity].mode == "bulk"
