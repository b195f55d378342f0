"""Pages of a drop folder: one JSON array of records per collection, a missing file means not delivered."""

import json
from pathlib import Path

from sis_pipeline.providers.common.contract import ProviderBase

PAGE_RECORDS = 500


class JsonDropReader(ProviderBase):
    collections = ("schools", "academicSessions", "courses", "classes", "students", "teachers", "enrollments", "demographics")

    @classmethod
    def check_config(cls, integration) -> None:
        folder = integration.options.get("folder")
        if not folder or not Path(folder).is_dir():
            raise ValueError(f"options.folder: {folder!r} is not a folder")

    def __init__(self, integration):
        self.integration = integration
        self.folder = Path(integration.options["folder"])

    def collection_modes(self) -> dict[str, str]:
        return {c: "bulk" if (self.folder / f"{c}.json").exists() else "absent" for c in self.collections}

    def iter_pages(self, collection, since=None):
        records = json.loads((self.folder / f"{collection}.json").read_text(encoding="utf-8"))
        for start in range(0, len(records), PAGE_RECORDS):
            yield records[start : start + PAGE_RECORDS]
