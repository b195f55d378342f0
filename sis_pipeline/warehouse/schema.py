"""The warehouse tables, built from the canonical models so the two can never drift apart.

One table per roster entity keyed by (integration, source_id), plus the identity, run and
rejection tables the pipeline keeps beside them. Portable to PostgreSQL and SQLite.

A change here needs a revision in `migrations/versions/` that makes the same change (see README,
"Upgrading the warehouse"); a test fails while the two differ.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from sis_pipeline.normalize.models import DATE_COLUMNS, ENTITIES, MODELS, columns

KEY_COLUMNS = ("integration", "source_id")
BOOKKEEPING_COLUMNS = ("first_seen_at", "updated_at", "archived_at")
SYNC_RUN_STATUSES = ("running", "success", "failed", "held")

metadata = MetaData()


def _canonical_column(entity: str, name: str) -> Column:
    field = MODELS[entity].to_schema().columns[name]
    if name in KEY_COLUMNS:
        column_type = String()
    elif name == "extra":  # queryable JSON on PostgreSQL; text holding the same JSON on SQLite
        column_type = Text().with_variant(JSONB(), "postgresql")
    elif name in DATE_COLUMNS.get(entity, ()):
        column_type = Date()
    elif str(field.dtype).startswith("datetime64"):
        column_type = DateTime(timezone=True)
    elif str(field.dtype) in ("bool", "boolean"):
        column_type = Boolean()
    else:
        column_type = Text()
    return Column(name, column_type, nullable=field.nullable)


_ENTITY_EXTRAS = {
    # student_uid is minted by the identity step and never rewritten by a load.
    "students": (
        Column("student_uid", String(36), nullable=False),
        Index("ix_students_student_uid", "student_uid"),
        Index("ix_students_state_id", "state_id"),
    ),
    # teacher_uid likewise: one per teacher, kept across id changes within an integration
    "teachers": (
        Column("teacher_uid", String(36), nullable=False),
        Index("ix_teachers_teacher_uid", "teacher_uid"),
    ),
    "sections": (Index("ix_sections_course", "integration", "course_source_id"),),  # quality/: courses without sections
    "enrollments": (
        Index("ix_enrollments_user", "integration", "user_source_id"),
        Index("ix_enrollments_section", "integration", "section_source_id"),
    ),
}


def _entity_table(entity: str) -> Table:
    return Table(
        entity,
        metadata,
        *(_canonical_column(entity, name) for name in columns(entity)),
        Column("first_seen_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("archived_at", DateTime(timezone=True)),
        PrimaryKeyConstraint(*KEY_COLUMNS),
        *_ENTITY_EXTRAS.get(entity, ()),
    )


ENTITY_TABLES: dict[str, Table] = {entity: _entity_table(entity) for entity in ENTITIES}


def _mappings(name: str, uid: str) -> Table:
    """Every link from a person's source id (or alternate id) to their uid, with the rule that found it.

    `confidence` says how sure the rule is (resolve/identity.py RULE_CONFIDENCE); `valid_from`/`valid_to`
    say while which period the link held: valid_to is set when the source record is archived, so
    history survives id changes.
    """
    return Table(
        name,
        metadata,
        Column("integration", String(), nullable=False),
        Column("id_type", String(), nullable=False),
        Column("source_id", String(), nullable=False),
        Column(uid, String(36), nullable=False, index=True),
        Column("rule", String(), nullable=False),
        Column("linked_at", DateTime(timezone=True), nullable=False),
        Column("confidence", Float(), nullable=False, server_default="1.0"),
        Column("valid_from", DateTime(timezone=True)),
        Column("valid_to", DateTime(timezone=True)),
        UniqueConstraint("integration", "id_type", "source_id", name=f"uq_{name}_id"),
    )


student_mappings = _mappings("student_mappings", "student_uid")
teacher_mappings = _mappings("teacher_mappings", "teacher_uid")

PROFILE_FIELDS = ("first_name", "middle_name", "last_name", "preferred_first_name", "email", "state_id", "student_number",
                  "sex", "grade_level", "enrollment_status", "school_source_id", "status")

student_profiles = Table(
    "student_profiles",
    metadata,
    # The golden record: one row per child, from the source row of the highest-priority integration that
    # lists the child (warehouse/profiles.py); consumers read one row per student_uid.
    Column("student_uid", String(36), primary_key=True),
    Column("integration", String(), nullable=False),  # whose row won
    Column("source_id", String(), nullable=False),
    *(Column(name, Text()) for name in PROFILE_FIELDS),
    Column("birth_date", Date()),
    Column("active", Boolean(), nullable=False),  # some integration lists the child now
    Column("sources", Integer(), nullable=False),  # how many active source rows
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

HISTORY_TEXT = ("status", "first_name", "middle_name", "last_name", "email", "username", "school_source_id", "legacy_source_id",
                "student_number", "state_id", "preferred_first_name", "sex", "grade_level", "enrollment_status")
HISTORY_COPIED = ("integration", "source_id", "student_uid", "source_updated_at", "enabled", "extra", "birth_date", "archived_at", *HISTORY_TEXT)

student_history = Table(
    "student_history",
    metadata,
    # Every version of every student row (warehouse/history.py): "what did we know on day D" is
    # `valid_from <= D AND (valid_to IS NULL OR valid_to > D)`. Written only for rows a load changed.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("integration", String(), nullable=False),
    Column("source_id", String(), nullable=False),
    Column("student_uid", String(36), nullable=False),
    *(Column(name, Text()) for name in HISTORY_TEXT),
    Column("source_updated_at", DateTime(timezone=True)),
    Column("enabled", Boolean()),
    Column("extra", Text().with_variant(JSONB(), "postgresql")),
    Column("birth_date", Date()),
    Column("archived_at", DateTime(timezone=True)),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("run_id", String(), nullable=False),
    Index("ix_student_history_record", "integration", "source_id", "valid_to"),
    Index("ix_student_history_uid", "student_uid", "valid_from"),
)

# the golden record's fields a person may correct locally (warehouse/overrides.py)
OVERRIDABLE_FIELDS = (*PROFILE_FIELDS, "birth_date")
CONFLICT_RESOLUTIONS = ("sis", "local", "value")

local_overrides = Table(
    "local_overrides",
    metadata,
    # A person's correction of one field of a child's golden record: who, when, why. Active until retired
    # (the SIS won under the integration's conflict strategy, a person resolved a conflict, or a newer edit).
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("student_uid", String(36), nullable=False),
    Column("field", String(), nullable=False),
    Column("value", Text()),
    Column("set_by", String(), nullable=False),
    Column("reason", Text()),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True)),
    Column("retired_why", Text()),
    Index("ix_local_overrides_uid", "student_uid", "field"),
)

sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    # Under `manual`: the SIS changed a field a person had corrected. The local value stays until resolved.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("integration", String(), nullable=False),
    Column("source_id", String(), nullable=False),
    Column("student_uid", String(36), nullable=False),
    Column("field", String(), nullable=False),
    Column("override_id", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("base_value", Text()),  # the SIS's value when last synced
    Column("sis_value", Text()),  # the SIS's value now
    Column("local_value", Text()),
    Column("run_id", String(), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("resolution", String()),
    Column("resolved_value", Text()),
    Column("resolved_by", String()),
    Column("resolved_at", DateTime(timezone=True)),
    CheckConstraint(f"resolution IN {CONFLICT_RESOLUTIONS}", name="ck_sync_conflicts_resolution"),
    Index("ix_sync_conflicts_open", "integration", "resolution"),
)

REVIEW_DECISIONS = ("linked", "split")

identity_reviews = Table(
    "identity_reviews",
    metadata,
    # A record that may be a child the warehouse already knows (same name and birth date), never merged
    # automatically: a person links it to `candidate_uid` or keeps it apart (warehouse/identity_reviews.py).
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("integration", String(), nullable=False),
    Column("source_id", String(), nullable=False),
    Column("candidate_uid", String(36), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("run_id", String(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decision", String()),
    Column("decided_by", String()),
    Column("decided_at", DateTime(timezone=True)),
    CheckConstraint(f"decision IN {REVIEW_DECISIONS}", name="ck_identity_reviews_decision"),
    UniqueConstraint("integration", "source_id", "candidate_uid", name="uq_identity_reviews_pair"),
)


api_calls = Table(
    "api_calls",
    metadata,
    # The audit trail of every SIS call of a run, kept SIS_AUDIT_RETENTION_DAYS days (never credentials).
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(), nullable=False),
    Column("integration", String(), nullable=False),
    Column("method", String(), nullable=False),
    Column("path", Text(), nullable=False),
    Column("status", Integer()),
    Column("error", String()),
    Column("duration_ms", Float(), nullable=False),
    Column("bytes", BigInteger(), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("called_at", DateTime(timezone=True), nullable=False, index=True),
    Index("ix_api_calls_run", "run_id", "integration"),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    # One current token per integration, encrypted with Fernet (SIS_TOKEN_KEY); never stored in plain text.
    Column("integration", String(), primary_key=True),
    Column("token_url", Text(), nullable=False),
    Column("encrypted_token", Text(), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("run_id", String(), nullable=False),
    Column("integration", String(), nullable=False),
    Column("mode", String(), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("status", String(), nullable=False),
    Column("counts", JSON().with_variant(JSONB(), "postgresql")),
    Column("error_class", String()),
    Column("error", Text()),
    PrimaryKeyConstraint("run_id", "integration"),
    CheckConstraint(f"status IN {SYNC_RUN_STATUSES}", name="ck_sync_runs_status"),
    Index("ix_sync_runs_history", "integration", "started_at"),
)

HOLD_DECISIONS = ("approved", "discarded")

sync_holds = Table(
    "sync_holds",
    metadata,
    # A held run (sync_runs.status 'held'): what its load would have done, and what a person decided.
    Column("run_id", String(), nullable=False),
    Column("integration", String(), nullable=False),
    Column("held_at", DateTime(timezone=True), nullable=False),
    Column("report", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("handle", JSON().with_variant(JSONB(), "postgresql")),  # the staged handle an approval loads again
    Column("decision", String()),
    Column("decided_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("run_id", "integration"),
    CheckConstraint(f"decision IN {HOLD_DECISIONS}", name="ck_sync_holds_decision"),
    Index("ix_sync_holds_integration", "integration", "held_at"),
)

rejected_records = Table(
    "rejected_records",
    metadata,
    # One row per distinct rejection (entity, source id, reasons, payload: its `fingerprint`); a run that
    # rejects it again moves `run_id` and `rejected_at` on. Kept SIS_REJECTED_RETENTION_DAYS after it was last seen.
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(), nullable=False),
    Column("integration", String(), nullable=False),
    Column("entity", String(), nullable=False),
    Column("source_id", String()),
    Column("reasons", Text(), nullable=False),
    Column("payload", Text()),
    Column("rejected_at", DateTime(timezone=True), nullable=False),
    Column("first_rejected_at", DateTime(timezone=True), nullable=False),
    Column("times_rejected", Integer(), nullable=False),
    Column("fingerprint", String(), nullable=False),
    Index("ix_rejected_records_run", "run_id", "integration", "entity", "source_id"),
    Index("ux_rejected_records_fingerprint", "integration", "fingerprint", unique=True),
    Index("ix_rejected_records_last_seen", "integration", "rejected_at"),
    Index("ix_rejected_records_entity", "integration", "entity", "source_id"),  # quality/: is this id known?
)


sync_cursors = Table(
    "sync_cursors",
    metadata,
    # Per integration and raw collection: the newest source modification time (the SIS's clock, UTC)
    # among records a committed load took, with none of that collection rejected (warehouse/cursors.py).
    Column("integration", String(), nullable=False),
    Column("collection", String(), nullable=False),
    Column("watermark", DateTime(timezone=True), nullable=False),
    Column("run_id", String(), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("integration", "collection"),
)

CHECK_OUTCOMES = ("passed", "failed")
CHECK_SEVERITIES = ("ERROR", "WARN")

check_results = Table(
    "check_results",
    metadata,
    # Every data-quality check's outcome per run: the history a district reads outside Dagster (warehouse/check_results.py).
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(), nullable=False),
    Column("integration", String(), nullable=False),
    Column("entity", String(), nullable=False),
    Column("check_name", String(), nullable=False),
    Column("severity", String(), nullable=False),
    Column("outcome", String(), nullable=False),
    Column("observed", Float()),  # the figure the check judged (a count, a fraction), if it has one
    Column("threshold", Float()),
    Column("detail", Text(), nullable=False),  # one readable line; ids at most, never names
    Column("checked_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(f"outcome IN {CHECK_OUTCOMES}", name="ck_check_results_outcome"),
    CheckConstraint(f"severity IN {CHECK_SEVERITIES}", name="ck_check_results_severity"),
    Index("ix_check_results_run", "integration", "run_id"),
    Index("ix_check_results_history", "integration", "check_name", "checked_at"),
)


def change_columns(entity: str) -> list[str]:
    """The columns whose difference makes a staged row an update."""
    return [name for name in columns(entity) if name not in KEY_COLUMNS]


def ensure_schema(engine: Engine) -> None:
    """Bring the warehouse to the newest revision (sis_pipeline.warehouse.migrate); safe to call on every start.

    This metadata describes the newest revision and is what `revision --autogenerate` compares against;
    the tables themselves are made only by the migrations.
    """
    from sis_pipeline.warehouse.migrate import upgrade_warehouse

    upgrade_warehouse(engine)
