"""Every quality check of an integration's warehouse tables, by name: what it means and how severe it is.

ERROR checks block (the roster is not trustworthy as it stands); WARN checks ask a person to look.
The Dagster layer declares one asset check per entry of CATALOGUE, so a check cannot run unseen.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from sis_pipeline.config import QualityThresholds
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.quality.health import NULL_RATE_FIELDS, health_outcomes
from sis_pipeline.quality.integrity import integrity_outcomes
from sis_pipeline.quality.sanity import sanity_outcomes
from sis_pipeline.warehouse.check_results import CheckOutcome
from sis_pipeline.warehouse.schema import rejected_records
from sis_pipeline.warehouse.statistics import refresh_statistics

SEVERITIES = ("ERROR", "WARN")


@dataclass(frozen=True)
class QualityCheck:
    entity: str
    name: str
    severity: str
    description: str


CATALOGUE = [
    *(QualityCheck(e, "required_fields", "ERROR", "Every active row has the fields a record cannot be without.") for e in ENTITIES),
    QualityCheck("students", "unique_state_id", "ERROR", "No two active students share a state id."),
    QualityCheck("enrollments", "user_exists", "ERROR", "Every active enrollment's person is a known student or teacher."),
    QualityCheck("enrollments", "section_exists", "ERROR", "Every active enrollment's section is known."),
    QualityCheck("sections", "course_exists", "ERROR", "Every active section's course is known."),
    QualityCheck("sections", "school_exists", "ERROR", "Every active section's school is known."),
    QualityCheck("sections", "terms_exist", "ERROR", "Every term an active section names is known."),
    *(QualityCheck(e, "row_count_drift", "WARN", "Active rows are near what the previous full sync loaded.") for e in ENTITIES),
    *(
        QualityCheck("students", f"{field}_null_rate", "WARN", f"Few active students lack a {field.replace('_', ' ')}.")
        for field in NULL_RATE_FIELDS
    ),
    *(QualityCheck(e, "freshness", "WARN", "The integration synced successfully within its freshness window.") for e in ENTITIES),
    QualityCheck("students", "without_enrollments", "WARN", "Every active student is enrolled somewhere."),
    QualityCheck("sections", "without_students", "WARN", "Every active section has a student."),
    QualityCheck("sections", "without_teacher", "WARN", "Every active section has a teacher."),
    QualityCheck("teachers", "without_sections", "WARN", "Every active teacher teaches a section."),
    QualityCheck("courses", "without_sections", "WARN", "Every active course has a section."),
    QualityCheck("enrollments", "ending_before_beginning", "WARN", "No active enrollment ends before it begins."),
    QualityCheck("enrollments", "inactive_references", "WARN", "No active enrollment names an archived or rejected person or section."),
]


def run_checks(
    engine: Engine,
    integration: str,
    thresholds: QualityThresholds,
    *,
    run_id: str,
    severity: str,
    now: datetime | None = None,
) -> list[CheckOutcome]:
    """The outcomes of the integration's checks of one severity, in CATALOGUE order.

    `run_id` is the run the checks judge: row-count drift compares against the full sync before it.
    """
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")
    with engine.connect() as conn:
        refresh_statistics(conn, [*ENTITIES, rejected_records.name])
        if severity == "ERROR":
            found = integrity_outcomes(conn, integration)
        else:
            found = [
                *health_outcomes(engine, conn, integration, run_id, thresholds, now or datetime.now(UTC)),
                *sanity_outcomes(conn, integration),
            ]
    by_key = {(o.entity, o.check_name): o for o in found}
    return [by_key[(c.entity, c.name)] for c in CATALOGUE if c.severity == severity]
