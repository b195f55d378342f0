"""OneRoster CSV (1.1 and 1.2) delivered as a zip or a folder, e.g. a nightly SFTP drop.

Rows become the records the REST binding serves, so the OneRoster folder's normaliser reads both.
"""

from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.providers.oneroster_csv.client import OneRosterCsvReader


class OneRosterCsvProvider(OneRosterCsvReader):
    kind = "oneroster_csv"
    normalizer = OneRosterNormalizer()
