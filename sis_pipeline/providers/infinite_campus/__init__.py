"""Infinite Campus: OneRoster records from the Campus service, read by the OneRoster normaliser.

The 1.1 -> 1.2 upgrade gives every person a new sourcedId; 1.2 keeps the old one in
`metadata.ic.legacysourceId`, which the normaliser reads as `legacy_source_id` and the identity
step uses to re-link the person to the same `student_uid`.
"""

from sis_pipeline.providers.infinite_campus.client import CampusApi
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer


class InfiniteCampusProvider(CampusApi):
    kind = "infinite_campus"
    normalizer = OneRosterNormalizer()
