"""The OneRoster provider against the simulator over HTTP: paging, tokens, errors."""

from datetime import datetime

import pytest

from sis_pipeline.config import load_config
from sis_pipeline.errors import AuthError, ClientError
from sis_pipeline.providers.common.auth import AccessToken
from sis_pipeline.providers.oneroster import OneRosterProvider


def provider_for(sim, write_config, **fields) -> OneRosterProvider:
    config = load_config(write_config(sim, **fields))
    return OneRosterProvider(config.integration("springfield"))


def all_ids(provider, collection) -> list[str]:
    return [record["sourcedId"] for page in provider.iter_pages(collection) for record in page]


@pytest.mark.parametrize("paging_headers", ["all", "total_only", "link_only", "none"])
@pytest.mark.parametrize("page_size", [50, 100, 650])
def test_every_page_is_kept_exactly_once(district, write_config, paging_headers, page_size):
    district.update_settings(paging_headers=paging_headers)
    provider = provider_for(district, write_config, page_size=page_size)
    try:
        ids = all_ids(provider, "students")
    finally:
        provider.close()
    expected = [district.district.students.sourced_id(i) for i in range(district.totals()["students"])]
    assert ids == expected  # not just the count: a client that kept only the last page fails here


def test_delta_filter_returns_only_what_changed_since_the_watermark(district, write_config):
    changed = district.district.students.sourced_id(9)
    district.apply_changes([{"op": "tobedeleted", "collection": "students", "sourcedId": changed}])
    watermark = max(datetime.fromisoformat(r["dateLastModified"]) for r in district_students(district))
    provider = provider_for(district, write_config)
    try:
        delta = [r for page in provider.iter_pages("students", since=watermark) for r in page]
    finally:
        provider.close()
    assert (changed, "tobedeleted") in [(r["sourcedId"], r["status"]) for r in delta]
    # the lower bound is inclusive: besides the change, only records stamped exactly at the watermark
    others = [r for r in delta if r["sourcedId"] != changed]
    assert all(datetime.fromisoformat(r["dateLastModified"]) == watermark for r in others) and len(others) <= 1


def district_students(sim) -> list[dict]:
    """The generated students as first served, before any change."""
    return [sim.district.students.record(i) for i in range(sim.district.students.count())]


def test_expired_token_mid_sync_is_refreshed_once_and_the_request_replayed(district, write_config):
    provider = provider_for(district, write_config, page_size=100)
    pages = provider.iter_pages("enrollments")
    try:
        seen = len(next(pages))
        district.expire_tokens()  # the server forgets the token between two pages
        seen += sum(len(page) for page in pages)
    finally:
        provider.close()
    assert seen == district.totals()["enrollments"]
    assert provider.client.auth.refreshes == 2
    assert provider.client.stats.retries == 0


def test_wrong_secret_is_an_auth_error_without_the_secret(district, write_config, monkeypatch):
    provider = provider_for(district, write_config)
    monkeypatch.setattr(provider.client.auth, "_client_secret", type(provider.client.auth._client_secret)("wrong-one"))
    try:
        with pytest.raises(AuthError) as caught:
            list(provider.iter_pages("schools"))
    finally:
        provider.close()
    assert "wrong-one" not in str(caught.value)
    assert "sis-test-client" in str(caught.value) and "401" in str(caught.value)


def test_imsx_error_body_is_read_leniently(district, write_config):
    provider = provider_for(district, write_config)
    try:
        with pytest.raises(ClientError) as caught:
            provider.client.get("classes/cls-9999999")
    finally:
        provider.close()
    assert "404" in str(caught.value) and "unknownobject" in str(caught.value)


@pytest.mark.parametrize(
    "lifetime, margin, due",
    [(3600, 600, 1800), (2_504_956, 600, 1_252_478), (1000, 600, 400), (300, 600, 150)],
)
def test_token_refresh_is_due_at_half_life_or_the_margin_whichever_is_first(lifetime, margin, due):
    token = AccessToken(value=None, issued_at=0.0, lifetime=lifetime)
    assert token.refresh_due_at(margin) == due


@pytest.mark.parametrize("credentials_in", ["basic", "form"])
def test_client_credentials_in_basic_auth_or_form_body(district, write_config, credentials_in):
    provider = provider_for(district, write_config, options={"credentials_in": credentials_in})
    try:
        assert len(all_ids(provider, "schools")) == district.totals()["schools"]
    finally:
        provider.close()
    assert provider.client.auth.refreshes == 1
