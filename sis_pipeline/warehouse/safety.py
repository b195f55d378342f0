"""When a load changes so much of an entity that a person should look first (Clever holds a district's
sync when >10% of a type would be deleted or >75% updated: usually a broken export, not a real change).

Judged per entity against its active rows before the load. An entity with no active rows yet (an
integration's first sync, a new entity) is exempt: there is nothing to lose.
"""

from dataclasses import dataclass

from sis_pipeline.config import SafetyLimits


@dataclass(frozen=True)
class EntityChange:
    """What one load did to an entity's active rows (measured inside the load's transaction)."""

    active_before: int
    archived: int  # rows active before the load that it archived (absent from a full sync, or tobedeleted)
    updated: int

    def fractions(self) -> dict[str, float]:
        if not self.active_before:
            return {"archive_fraction": 0.0, "change_fraction": 0.0}
        return {
            "archive_fraction": round(self.archived / self.active_before, 4),
            "change_fraction": round(self.updated / self.active_before, 4),
        }


def hold_reasons(limits: SafetyLimits, integration: str, entity: str, change: EntityChange) -> list[str]:
    """Why this entity's load must be held; empty when it may be applied. A limit of 1 is never exceeded."""
    if not change.active_before:
        return []
    checks = [
        ("archive", change.archived, limits.max_archive_fraction),
        ("change", change.updated, limits.max_change_fraction),
    ]
    return [
        f"{integration}/{entity}: would {verb} {rows} of {change.active_before} active rows "
        f"({rows / change.active_before:.1%}; limit {limit:.0%})"
        for verb, rows, limit in checks
        if limit < 1 and rows / change.active_before > limit
    ]
