"""Which value wins when the SIS and the warehouse disagree about a field."""

import pandas as pd

from sis_pipeline.config import IMPLEMENTED_STRATEGIES


def resolve_conflicts(strategy: str, incoming: pd.DataFrame) -> pd.DataFrame:
    """The rows to load under `strategy`.

    Under `sis_wins` (the default) the SIS is the system of record: every incoming value replaces the
    warehouse value, so the incoming frame is loaded as it is. The other strategies compare against
    local edits, which arrive with the identity issue; configuration refuses them until then.
    """
    if strategy not in IMPLEMENTED_STRATEGIES:
        raise ValueError(f"conflict strategy {strategy!r} is not implemented")
    return incoming
