"""The extraction step: what a provider declares optional may be refused; credentials never reach the disk."""

import json

import pytest

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import AuthError, ClientError
from sis_pipeline.extract import extract
from sis_pipeline.providers.common.contract import ProviderBase
from sis_pipeline.providers.common.http import ForbiddenError, NotFoundError


class RefusingProvider(ProviderBase):
    """A provider whose SIS refuses some collections, as a plugin without a table's access request is refused."""

    collections = ("students", "student_changes")
    optional_collections = ("student_changes",)
    secret_fields = ("password", "extensions.u_portal.pin")

    def __init__(self, refusals: dict[str, Exception]):
        self.integration = IntegrationConfig(name="springfield", provider="refusing")
        self.refusals = refusals

    def collection_modes(self) -> dict[str, str]:
        return dict.fromkeys(self.collections, "bulk")

    def iter_pages(self, collection, since=None):
        yield [{"id": f"{collection}-1", "password": "hunter2", "extensions": {"u_portal": {"pin": "0000", "lang": "es"}}}]
        if collection in self.refusals:
            raise self.refusals[collection]


@pytest.mark.parametrize("refusal", [ForbiddenError("HTTP 403 on /ws/schema/table/students"), NotFoundError("HTTP 404")])
def test_a_refused_optional_collection_is_skipped_and_leaves_no_file(tmp_path, refusal):
    handles, skipped = extract(RefusingProvider({"student_changes": refusal}), tmp_path)
    assert skipped == ["student_changes"] and set(handles) == {"students"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["students.ndjson", "students.pages"]


@pytest.mark.parametrize("refusal", [ForbiddenError("HTTP 403 on /ws/v1/district/student"), NotFoundError("HTTP 404")])
def test_a_refused_core_collection_fails_the_extraction(tmp_path, refusal):
    with pytest.raises((AuthError, ClientError)) as failed:
        extract(RefusingProvider({"students": refusal}), tmp_path)
    assert failed.value is refusal


def test_declared_secret_fields_never_reach_the_staged_file(tmp_path):
    provider = RefusingProvider({})
    handles, _ = extract(provider, tmp_path)
    staged = [json.loads(line) for line in (tmp_path / "students.ndjson").read_text().splitlines()]
    assert staged == [{"id": "students-1", "extensions": {"u_portal": {"lang": "es"}}}]
    assert "hunter2" not in (tmp_path / "student_changes.ndjson").read_text()
    assert handles["students"]["rows"] == 1
