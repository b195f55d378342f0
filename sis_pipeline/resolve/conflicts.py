"""Which value a child's golden record shows when the SIS and a local edit disagree: decided here, vectorised.

The warehouse's `students` rows always mirror the SIS; a person's correction lives in `local_overrides`
and is laid over the golden record (`student_profiles`). Per overridden field this compares three
values: the SIS's value when last synced (the base), the incoming SIS value, and the local value.
Only when the SIS changed the field (incoming differs from the base) is there anything to decide:

- `sis_wins`: the SIS is the system of record; its change retires the local edit.
- `local_wins`: the local edit stays; the SIS's change is kept in `students` and history only.
- `newest_wins`: the later of the SIS's modification time and the local edit's time wins.
- `manual`: a conflict is recorded with both values (once per SIS value); the local value stays until
  a person resolves it (`sis-pipeline conflicts resolve`).
"""

import pandas as pd

DECISION_COLUMNS = ["override_id", "student_uid", "source_id", "field", "action", "base_value", "sis_value", "local_value"]


def decide_conflicts(strategy: str, incoming: pd.DataFrame, overrides: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """One row per active override the incoming SIS values bear on, with its `action`: retire, conflict or keep.

    `incoming`: the staged students (source_id, student_uid, source_updated_at, canonical fields).
    `overrides`: active local edits (override_id, student_uid, field, value, set_at).
    `base`: the warehouse's rows of the same records (source_id and canonical fields), as last synced.
    """
    if overrides.empty or incoming.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    fields = sorted(set(overrides["field"]) & set(incoming.columns))
    keyed = incoming[["source_id", "student_uid", "source_updated_at", *fields]]
    sis = keyed.melt(id_vars=["source_id", "student_uid", "source_updated_at"], value_vars=fields, var_name="field", value_name="sis_value")
    last = base[["source_id", *[f for f in fields if f in base.columns]]].melt(id_vars=["source_id"], var_name="field", value_name="base_value")
    rows = overrides.merge(sis, on=["student_uid", "field"]).merge(last, on=["source_id", "field"], how="left")
    if rows.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    sis_value, base_value = _text(rows["sis_value"]), _text(rows["base_value"])
    changed = ~((sis_value == base_value) | (sis_value.isna() & base_value.isna()))
    if strategy == "sis_wins":
        action = changed.map({True: "retire", False: "keep"})
    elif strategy == "local_wins":
        action = pd.Series("keep", index=rows.index)
    elif strategy == "newest_wins":
        sis_newer = pd.to_datetime(rows["source_updated_at"], utc=True) > pd.to_datetime(rows["set_at"], utc=True)
        action = (changed & sis_newer.fillna(False)).map({True: "retire", False: "keep"})
    elif strategy == "manual":
        action = changed.map({True: "conflict", False: "keep"})
    else:
        raise ValueError(f"unknown conflict strategy {strategy!r}")
    decided = rows.assign(action=action, sis_value=sis_value, base_value=base_value, local_value=_text(rows["value"]))
    return decided.loc[decided["action"] != "keep", DECISION_COLUMNS].reset_index(drop=True)


def _text(values: pd.Series) -> pd.Series:
    """Values as the text a local edit holds (dates as YYYY-MM-DD), missing as None."""
    return values.map(_as_text).astype(object)


def _as_text(value) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if not isinstance(value, str) and hasattr(value, "isoformat"):  # a date (or a timestamp at midnight)
        return str(value)[:10]
    return str(value)
