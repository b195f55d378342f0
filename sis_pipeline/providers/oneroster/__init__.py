"""OneRoster 1.1 / 1.2 REST: the client pages the service, the normaliser reads its records."""

from sis_pipeline.providers.oneroster.client import OneRosterApi
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer


class OneRosterProvider(OneRosterApi):
    kind = "oneroster"
    normalizer = OneRosterNormalizer()
