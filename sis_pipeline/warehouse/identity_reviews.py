"""Possible duplicates a person decides about (`identity_reviews`), owned here alone.

The identity step never merges two children on name and birth date: it gives the record a uid of its
own and asks here. `link` moves the record (its row, its links) to the candidate child; `split` keeps
them apart for good (the same pair is not asked about again).
"""

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, and_, select, update

from sis_pipeline.warehouse.profiles import refresh_profiles
from sis_pipeline.warehouse.schema import ENTITY_TABLES, identity_reviews, student_mappings


class ReviewNotFound(LookupError):
    """No open review with that id."""


def record_reviews(engine: Engine, run_id: str, integration: str, reviews: pd.DataFrame) -> int:
    """Ask about each (source id, candidate) pair once: pairs already asked, open or decided, are skipped."""
    if reviews.empty:
        return 0
    now = datetime.now(UTC)
    asked = 0
    with engine.begin() as conn:
        known = {
            (row.source_id, row.candidate_uid)
            for row in conn.execute(
                select(identity_reviews.c.source_id, identity_reviews.c.candidate_uid).where(
                    identity_reviews.c.integration == integration, identity_reviews.c.source_id.in_(list(reviews["source_id"]))
                )
            )
        }
        fresh = [
            {"integration": integration, "source_id": r.source_id, "candidate_uid": r.candidate_uid, "reason": r.reason,
             "run_id": run_id, "created_at": now}
            for r in reviews.drop_duplicates(["source_id", "candidate_uid"]).itertuples()
            if (r.source_id, r.candidate_uid) not in known
        ]
        if fresh:
            conn.execute(identity_reviews.insert(), fresh)
            asked = len(fresh)
    return asked


def open_reviews(engine: Engine, integration: str | None = None) -> list[dict]:
    query = select(identity_reviews).where(identity_reviews.c.decision.is_(None)).order_by(identity_reviews.c.id)
    if integration is not None:
        query = query.where(identity_reviews.c.integration == integration)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def decide_review(engine: Engine, review_id: int, decision: str, decided_by: str, priorities: dict[str, int] | None = None) -> dict:
    """Link the record to the candidate child (its students row and source-id link take the candidate's uid), or split."""
    if decision not in ("linked", "split"):
        raise ValueError(f"decision must be 'linked' or 'split', not {decision!r}")
    students = ENTITY_TABLES["students"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        review = conn.execute(
            select(identity_reviews).where(identity_reviews.c.id == review_id, identity_reviews.c.decision.is_(None))
        ).one_or_none()
        if review is None:
            raise ReviewNotFound(f"no open identity review {review_id}; list them with `sis-pipeline identities review`")
        if decision == "linked":
            record = and_(students.c.integration == review.integration, students.c.source_id == review.source_id)
            before = conn.execute(select(students.c.student_uid).where(record)).scalars().all()
            conn.execute(update(students).where(record).values(student_uid=review.candidate_uid))
            conn.execute(
                update(student_mappings)
                .where(student_mappings.c.integration == review.integration, student_mappings.c.source_id == review.source_id)
                .values(student_uid=review.candidate_uid, rule="review", confidence=1.0)
            )
            refresh_profiles(conn, [*before, review.candidate_uid], priorities or {})
        conn.execute(
            update(identity_reviews).where(identity_reviews.c.id == review_id).values(decision=decision, decided_by=decided_by, decided_at=now)
        )
    return {**review._mapping, "decision": decision, "decided_by": decided_by}
