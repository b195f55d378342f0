"""Normalising while extracting: the worker starts before extraction ends and gives exactly the after-the-fact result.

Against the OneRoster simulator over HTTP, every page slowed down so that extraction takes seconds:
the entities whose collections arrive first are normalised before the last page arrives, and every
dataset equals what normalising the same staged files afterwards gives. A collection Arrow cannot
read in chunks gives no result (the normalise step then reads the files itself), and a sync adopts
the worker's result.
"""

import json
import time
from datetime import UTC, datetime

import orjson
import pandas as pd
import pytest

from sis_pipeline.config import load_config
from sis_pipeline.defs.resources import normalizer_for, open_provider
from sis_pipeline.extract import extract
from sis_pipeline.normalize.stage import normalize_integration
from sis_pipeline.normalize.streaming import NormalizeWhileExtracting
from sis_pipeline.providers.oneroster.normalize import OneRosterNormalizer
from sis_pipeline.staging import read_frame
from sis_pipeline_tests.helpers import expected_totals, warehouse_counts
from sis_pipeline_tests.test_normalize_chunked import INTEGRATION, TODAY, arrow_readable, dirty_district

CHUNK = 50


def frames(result: dict) -> dict:
    return {
        entity: (read_frame(item["valid"]["path"]), read_frame(item["rejected"]["path"]),
                 {k: v for k, v in item.items() if k not in ("valid", "rejected", "seconds")})
        for entity, item in result.items()
    }


def assert_same(streamed: dict, after: dict) -> None:
    assert list(streamed) == list(after)
    for entity, (valid, rejected, counts) in frames(streamed).items():
        expected = frames(after)[entity]
        assert counts == expected[2], entity
        pd.testing.assert_frame_equal(valid, expected[0], obj=f"{entity} valid")
        pd.testing.assert_frame_equal(rejected, expected[1], obj=f"{entity} rejected")


def test_entities_are_normalised_before_extraction_ends_and_equal_the_after_the_fact_result(district, write_config, tmp_path):
    district.update_settings(faults={"slow_page_rate": 1.0, "slow_page_seconds": 0.15})
    integration = load_config(write_config(district, page_size=100)).integration("springfield")
    normalizer = normalizer_for(integration)
    listener = NormalizeWhileExtracting(
        integration, normalizer, tmp_path / "streamed", today=datetime.now(UTC).date(), newest_wins=False, size=CHUNK
    )
    provider = open_provider(integration)
    try:
        collections, _ = extract(provider, tmp_path / "raw", listener=listener)
        extraction_ended = time.time()
        streamed = listener.result()
    finally:
        listener.close()
        provider.close()

    assert streamed is not None
    assert listener.memory_pool == "jemalloc"  # the worker gives freed Arrow memory back (return_freed_arrow_memory)
    # schools, terms, courses and sections come in few pages: their datasets were done while enrollments still paged
    assert min(listener.finished_at.values()) < extraction_ended - 1.0, (listener.finished_at, extraction_ended)
    after = normalize_integration(integration, normalizer, collections, tmp_path / "after", chunk_records=CHUNK)
    assert_same(streamed, after)
    assert streamed["enrollments"]["valid"]["rows"] == expected_totals(district)["enrollments"]


def written_page_by_page(tmp_path, district: dict[str, list[dict]], listener: NormalizeWhileExtracting, page: int = 3) -> dict:
    """Extraction's protocol, played by hand: files grow a page at a time and the listener hears of each."""
    listener.planned(dict.fromkeys(district, "bulk"))
    raw = {}
    for name, records in district.items():
        path = tmp_path / "raw" / f"{name}.ndjson"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            for start in range(0, len(records), page):
                out.write(b"".join(orjson.dumps(r) + b"\n" for r in records[start : start + page]))
                out.flush()
                listener.written(name, path, min(start + page, len(records)))
        listener.finished(name, path, len(records))
        raw[name] = {"path": str(path), "rows": len(records), "mode": "bulk"}
    return raw


@pytest.mark.parametrize("readable", [True, False], ids=["arrow-reads-every-chunk", "arrow-refuses-some-collections"])
def test_a_dirty_district_streamed_equals_normalising_it_afterwards(tmp_path, readable):
    district = arrow_readable(dirty_district()) if readable else dirty_district()
    listener = NormalizeWhileExtracting(INTEGRATION, OneRosterNormalizer(), tmp_path / "streamed", today=TODAY, newest_wins=False, size=3)
    try:
        raw = written_page_by_page(tmp_path, district, listener)
        streamed = listener.result()
    finally:
        listener.close()
    after = normalize_integration(INTEGRATION, OneRosterNormalizer(), raw, tmp_path / "after", TODAY, chunk_records=3)
    assert streamed is not None and streamed["students"]["rejected"]["rows"] >= 6
    assert_same(streamed, after)


class FailingNormalizer(OneRosterNormalizer):
    """A normaliser with a bug in enrollments: the worker dies on them, after other entities were written."""

    def normalize(self, entity, records, integration):
        if entity == "enrollments":
            raise RuntimeError("a bug in the enrollments normaliser")
        return super().normalize(entity, records, integration)


def test_a_worker_that_fails_gives_no_result_and_leaves_nothing_behind(tmp_path, caplog):
    listener = NormalizeWhileExtracting(INTEGRATION, FailingNormalizer(), tmp_path / "streamed", today=TODAY, newest_wins=False, size=3)
    try:
        written_page_by_page(tmp_path, arrow_readable(dirty_district()), listener)
        assert listener.result() is None
    finally:
        listener.close()
    assert "normalising while extracting gave no result (RuntimeError: a bug in the enrollments normaliser)" in caplog.text
    assert not (tmp_path / "streamed").exists()  # nothing half-written is left for the normalise step to mistake


@pytest.mark.parametrize("chunk", ["40", "0"], ids=["streamed", "after-extraction"])
def test_a_sync_adopts_what_was_normalised_while_extracting(district, write_config, sync, warehouse_url, tmp_path, monkeypatch, chunk):
    monkeypatch.setenv("SIS_CHUNK_RECORDS", chunk)
    result = sync(write_config(district), warehouse_url)
    assert result["status"] == "success"
    assert warehouse_counts(warehouse_url) == expected_totals(district)
    raw_handle = json.loads((tmp_path / "staging" / "springfield" / "handles" / "raw_rosters.json").read_text())
    assert (raw_handle["normalized"] is not None) == (chunk != "0")
    assert raw_handle["run_id"] == result["run_id"]
