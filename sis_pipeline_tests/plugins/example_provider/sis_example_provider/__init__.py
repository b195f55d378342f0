"""A provider for a fictional SIS that drops one JSON array of OneRoster records per collection.

It lives in its own package and registers in the `sis_pipeline.providers` entry-point group: an
integration uses it by writing `provider: example_json_drop`, with no change to sis_pipeline.
"""

import json
from pathlib import Path

from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer

COLLECTIONS = ("schools", "academicSessions", "courses", "classes", "students", "teachers", "enrollments", "demographics")


class JsonDropProvider:
    kind = "example_json_drop"
    required_fields = ()
    collections = COLLECTIONS
    normalizer = OneRosterNormalizer()
    parallel = 1

    @classmethod
    def check_config(cls, integration) -> None:
        folder = integration.options.get("folder")
        if not folder or not Path(folder).is_dir():
            raise ValueError(f"options.folder: {folder!r} is not a folder")

    def __init__(self, integration):
        self.integration = integration
        self.folder = Path(integration.options["folder"])

    def collection_modes(self) -> dict[str, str]:
        return {c: "bulk" if (self.folder / f"{c}.json").exists() else "absent" for c in COLLECTIONS}

    def api_stats(self) -> dict:
        return {}

    def iter_pages(self, collection, since=None):
        records = json.loads((self.folder / f"{collection}.json").read_text(encoding="utf-8"))
        for start in range(0, len(records), 500):
            yield records[start : start + 500]

    def close(self) -> None:
        pass
