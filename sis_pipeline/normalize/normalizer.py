"""The one shape of every SIS's normaliser: raw collections in, one canonical entity frame out.

A normaliser declares what it reads (`sources`, `schemas`) and where each canonical column comes
from (`columns`); only columns that need more than one field, another collection or the
integration's settings are computed (`derive`). `normalize` is the same for every SIS.
"""

from collections.abc import Callable, Mapping
from typing import ClassVar

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.normalize import values as v
from sis_pipeline.normalize.models import EXTRA_FIELD_ENTITIES, conform
from sis_pipeline.normalize.related import Related, not_delivered, unreadable_related

Conversion = Callable[[pd.Series], pd.Series]
# (conversion, dotted field path in the raw record), or a constant every row shares
Column = tuple[Conversion, str] | str
# (the entity's own raw records, every source collection by name, the integration) -> columns
Derivation = Callable[[pd.DataFrame, Mapping[str, pd.DataFrame], IntegrationConfig], Mapping[str, object]]


class Normalizer:
    # entity -> the raw collections it is built from; the first holds the entity's own records
    sources: ClassVar[Mapping[str, tuple[str, ...]]]
    # raw collection -> the fields read from it, typed (see records.py)
    schemas: ClassVar[Mapping[str, pa.Schema]]
    # entity -> canonical column -> where it comes from
    columns: ClassVar[Mapping[str, Mapping[str, Column]]] = {}
    # entity -> the columns computed from more than one field; they replace declared columns of the same name
    derived: ClassVar[Mapping[str, Derivation]] = {}
    # entity -> nullable columns taken from another collection: kept in the warehouse when it does not come
    related: ClassVar[Mapping[str, tuple[Related, ...]]] = {}

    def normalize(self, entity: str, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig) -> pd.DataFrame:
        """Canonical frame for `entity`, one row per record of its first source, index = record position."""
        raw = records[self.sources[entity][0]]
        frame = pd.DataFrame({"integration": integration.name}, index=raw.index)
        for name, column in self.columns.get(entity, {}).items():
            frame[name] = column if isinstance(column, str) else column[0](v.column(raw, column[1]))
        for name, values in self.derive(entity, raw, records, integration).items():
            frame[name] = values
        if entity in EXTRA_FIELD_ENTITIES:
            frame["extra"] = v.extra_fields(raw, entity, integration.options)
        return conform(frame, entity)

    def derive(
        self, entity: str, raw: pd.DataFrame, records: Mapping[str, pd.DataFrame], integration: IntegrationConfig
    ) -> Mapping[str, object]:
        """The computed columns of one entity; a SIS whose every record needs one (a wall-clock time) adds it here."""
        derivation = self.derived.get(entity)
        return derivation(raw, records, integration) if derivation else {}

    def not_delivered(
        self, entity: str, records: Mapping[str, pd.DataFrame], modes: Mapping[str, str]
    ) -> pd.Series:
        """Per record, the columns whose related collection did not speak for it (see related.py)."""
        return not_delivered(self.related.get(entity, ()), records[self.sources[entity][0]], records, modes)

    def unreadable_related(self, entity: str, records: Mapping[str, pd.DataFrame]) -> pd.Series:
        """Per record, why a related record it joins could not be read (see related.py)."""
        return unreadable_related(self.related.get(entity, ()), records[self.sources[entity][0]], records)
