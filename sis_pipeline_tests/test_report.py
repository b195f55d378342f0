"""`sis-pipeline report` as a district reads it each morning: every number it prints is the warehouse's own.

A dirty sync (missing names, impossible and future birth dates, enrollments naming nobody, an
unreadable flag) is reported in HTML, Markdown and JSON through the real command line; each output is
parsed back and compared with `sync_runs` and with `rejected_records` grouped here, in Python.
"""

import json
import os
import re
import stat
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from sis_pipeline.config import load_config
from sis_pipeline.defs import build_resources
from sis_pipeline.defs.sync_runner import sync_integrations
from sis_pipeline.normalize import stage
from sis_pipeline.providers.common.guards import forget_guards
from sis_pipeline.normalize.reason_patterns import SEPARATOR, reason_pattern
from sis_pipeline.reporting.data import ENTITY_COUNTS
from sis_pipeline.warehouse import create_warehouse_engine
from sis_pipeline.warehouse.check_results import read_check_results
from sis_pipeline.warehouse.schema import check_results
from sis_pipeline.warehouse.schema import rejected_records, sync_runs
from sis_pipeline_tests.helpers import created_database

CLI = str(Path(sys.executable).with_name("sis-pipeline"))
DROPPED_FLAG = "enabled: unreadable enabledUser dropped, the record kept"


def report(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SIS_WAREHOUSE_URL": url}
    return subprocess.run([CLI, "report", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def report_file(url: str, tmp_path: Path, fmt: str, *args: str) -> tuple[str, Path]:
    output = tmp_path / f"report.{fmt}"
    done = report(url, tmp_path, "--format", fmt, "--output", str(output), *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == ""  # the report went to the file alone
    return output.read_text(), output


def make_dirty(district) -> dict:
    """Invalid records of every kind the morning report must explain; what was broken, by source id."""
    sim = district.district
    ids = {
        "no_family_name": [sim.students.sourced_id(i) for i in (1, 2)],
        "no_given_name": [sim.students.sourced_id(3)],
        "future_birth": [sim.students.sourced_id(4), sim.students.sourced_id(5)],
        "impossible_birth": [sim.students.sourced_id(6)],
        "unreadable_flag": [sim.students.sourced_id(7)],
        "ghost_enrollments": ["enr-ghost-1", "enr-ghost-2"],
    }
    changes = [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"familyName": " "}} for s in ids["no_family_name"]]
    changes += [{"op": "update", "collection": "students", "sourcedId": s, "fields": {"givenName": ""}} for s in ids["no_given_name"]]
    changes += [
        {"op": "update", "collection": "demographics", "sourcedId": s, "fields": {"birthDate": f"20{90 + n}-01-0{n + 1}"}}
        for n, s in enumerate(ids["future_birth"])
    ]
    changes += [{"op": "update", "collection": "demographics", "sourcedId": ids["impossible_birth"][0], "fields": {"birthDate": "2013-02-30"}}]
    changes += [{"op": "update", "collection": "students", "sourcedId": ids["unreadable_flag"][0], "fields": {"enabledUser": "maybe"}}]
    changes += [
        {
            "op": "add", "collection": "enrollments",
            "record": {
                "sourcedId": enrollment, "role": "student", "primary": "false",
                "user": {"sourcedId": f"ghost-{n}", "type": "user"},
                "class": {"sourcedId": sim.classes.sourced_id(0), "type": "class"},
                "school": {"sourcedId": sim.schools.sourced_id(0), "type": "org"},
                "beginDate": "2025-08-15", "endDate": "2026-06-15",
            },
        }
        for n, enrollment in enumerate(ids["ghost_enrollments"])
    ]
    district.apply_changes(changes)
    return ids


# The five report tests below only read the warehouse (the report command writes its files to the test's
# own tmp_path), so they share one clean-then-dirty sync per backend: one worker, one warehouse each.
REPORT_TESTS = pytest.mark.xdist_group("test_report_synced")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_warehouse_url(request, tmp_path_factory):
    """One warehouse per backend for this module's read-only report tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('report-warehouse') / 'warehouse.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_server_url")
        with created_database(server, f"sis_test_{uuid.uuid4().hex[:12]}") as url:
            yield url


@pytest.fixture(scope="module")
def synced(oneroster_sim, shared_warehouse_url, tmp_path_factory):
    """A clean run, then a dirty one with check outcomes recorded: (the runs' ids, clean first; what was broken).

    Made once per backend: the tests that use it never write to the warehouse.
    """
    district, warehouse_url = oneroster_sim, shared_warehouse_url
    scratch = tmp_path_factory.mktemp("report-sync")
    config = scratch / "integrations.yaml"
    config.write_text(yaml.safe_dump({"integrations": [{
        "name": "springfield", "provider": "oneroster", "base_url": district.oneroster_root("1.1"),
        "token_url": district.token_url, "client_id_env": "SPRINGFIELD_CLIENT_ID",
        "client_secret_env": "SPRINGFIELD_CLIENT_SECRET", "page_size": 100,
    }]}))

    def sync() -> dict:
        forget_guards()
        pipeline = load_config(config)
        resources = build_resources(pipeline, warehouse_url, str(scratch / "staging"))
        return sync_integrations(pipeline, ["springfield"], resources=resources)["integrations"]["springfield"]

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SPRINGFIELD_CLIENT_ID", district.client_id)
        env.setenv("SPRINGFIELD_CLIENT_SECRET", district.client_secret)
        district.reset()
        district.update_settings(paging_headers="all")
        try:
            clean = sync()
            broken = make_dirty(district)
            dirty = sync()
        finally:
            district.reset()
            district.update_settings(paging_headers="all")
    assert (clean["status"], dirty["status"]) == ("success", "success"), dirty
    engine = create_warehouse_engine(warehouse_url)
    with engine.begin() as conn:  # the clean run stands for a run of a release before the checks existed
        conn.execute(check_results.delete().where(check_results.c.run_id == clean["run_id"]))
    engine.dispose()
    return [clean["run_id"], dirty["run_id"]], broken


@pytest.fixture
def warehouse_url(shared_warehouse_url):
    """The module's shared warehouse, for the tests that read what `synced` wrote."""
    return shared_warehouse_url


def recorded_checks(url: str, run_id: str) -> list[tuple[str, str]]:
    """The run's check outcomes as the checks recorded them, in the order the report lists them."""
    engine = create_warehouse_engine(url)
    rows = read_check_results(engine, "springfield", run_id)
    engine.dispose()
    assert rows  # every sync runs the checks
    return [(row["check_name"], row["outcome"]) for row in rows]


# --- what the warehouse says, computed here independently of the report ------------------------


def warehouse_runs(url: str) -> dict[str, dict]:
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(sync_runs).order_by(sync_runs.c.started_at)).mappings().all()
    engine.dispose()
    return {row["run_id"]: dict(row) for row in rows}


def expected_entities(counts: dict) -> dict[str, dict[str, int]]:
    entities = [name for name, value in counts.items() if isinstance(value, dict) and "staged" in value]
    return {
        entity: {
            name: counts["fetched"][entity] if name == "fetched" else counts["rejected"][entity] if name == "rejected" else counts[entity][name]
            for name in ENTITY_COUNTS
        }
        for entity in entities
    }


def expected_reasons(url: str, run_id: str) -> dict[str, dict[str, set[str]]]:
    """entity -> reason pattern -> the source ids refused for it, grouped in Python."""
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(rejected_records.c.entity, rejected_records.c.source_id, rejected_records.c.reasons)
            .where(rejected_records.c.run_id == run_id)
        ).all()
    engine.dispose()
    grouped: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entity, source_id, reasons in rows:
        for part in reason_pattern(reasons).split(SEPARATOR):
            grouped[entity][part].add(source_id)
    return grouped


def history_points(runs: dict[str, dict]) -> dict[str, dict[str, float]]:
    points = {}
    for run_id, run in runs.items():
        entities = expected_entities(run["counts"])
        points[run_id] = {
            "rows": sum(e["staged"] for e in entities.values()),
            "rejected": sum(e["rejected"] for e in entities.values()),
            "seconds": round((run["ended_at"] - run["started_at"]).total_seconds(), 2),
        }
    return points


def payload_names(url: str) -> set[str]:
    """Given and family names in the rejected records' payloads (the personal data the flag unlocks)."""
    engine = create_warehouse_engine(url)
    with engine.connect() as conn:
        payloads = conn.execute(select(rejected_records.c.payload).where(rejected_records.c.entity == "students")).scalars().all()
    engine.dispose()
    names = {json.loads(p).get(key, "").strip() for p in payloads if p for key in ("givenName", "familyName")}
    return {name for name in names if len(name) >= 3}


# --- reading the outputs back ------------------------------------------------------------------


class Tables(HTMLParser):
    """Every `<table data-table=...>` as rows of cell texts, every `<p data-table=...>` as its text, and every src/href."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self._table = self._row = self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [value for key, value in attrs.items() if key in ("src", "href") and value]
        if "data-table" in attrs:
            self._table = attrs["data-table"]
            self.tables.setdefault(self._table, [])
            if tag == "p":
                self._cell = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("table", "p") and self._table:
            if tag == "p" and self._cell is not None:
                self.tables[self._table] = [["".join(self._cell)]]
            self._table = self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_tables(text: str, section: int = 0) -> tuple[dict, list[str]]:
    """One integration section's tables (header row first) and the page's links."""
    parser = Tables()
    parser.feed(text.split("<section")[section + 1])
    page = Tables()
    page.feed(text)
    return parser.tables, page.links


def md_tables(text: str) -> dict[str, list[list[str]]]:
    """The Markdown's tables by the `###` heading above them, header row first, separators dropped."""
    tables, heading = {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            heading = line[4:]
        elif line.startswith("| ") and not line.startswith("|---"):
            cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            tables.setdefault(heading, []).append(cells)
    return tables


def as_counts(rows: list[list[str]]) -> dict[str, dict[str, int]]:
    header, *body = rows
    assert header == ["entity", *ENTITY_COUNTS]
    return {row[0]: dict(zip(ENTITY_COUNTS, map(int, row[1:]), strict=True)) for row in body}


def as_reasons(rows: list[list[str]]) -> dict[str, dict[str, tuple[int, list[str]]]]:
    header, *body = rows
    assert header == ["entity", "reason", "records", "example source ids"]
    found: dict[str, dict] = defaultdict(dict)
    for entity, reason, records, examples in body:
        found[entity][reason] = (int(records), [e for e in examples.split(", ") if e])
    return found


def assert_reasons_match(shown: dict, expected: dict) -> None:
    assert set(shown) == set(expected)
    for entity, reasons in expected.items():
        assert {reason: n for reason, (n, _) in shown[entity].items()} == {reason: len(ids) for reason, ids in reasons.items()}
        for reason, (_, examples) in shown[entity].items():
            assert examples and set(examples) <= reasons[reason]


# --- the tests ---------------------------------------------------------------------------------


@REPORT_TESTS
def test_json_report_carries_the_warehouse_numbers(synced, warehouse_url, tmp_path):
    (clean_run, dirty_run), broken = synced
    text, path = report_file(warehouse_url, tmp_path, "json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (springfield,) = json.loads(text)["integrations"]
    runs = warehouse_runs(warehouse_url)
    assert springfield["run"]["run_id"] == dirty_run and springfield["run"]["status"] == "success"
    assert springfield["entities"] == expected_entities(runs[dirty_run]["counts"])
    assert springfield["entities"]["students"]["rejected"] == 6 and springfield["entities"]["enrollments"]["rejected"] == 2

    expected = expected_reasons(warehouse_url, dirty_run)
    shown = {
        entity: {r["pattern"]: (r["records"], [e["source_id"] for e in r["examples"]]) for r in summary["reasons"]}
        for entity, summary in springfield["errors"].items()
    }
    assert_reasons_match(shown, expected)
    assert {entity: s["records"] for entity, s in springfield["errors"].items()} == {e: len(set().union(*r.values())) for e, r in expected.items()}
    ghosts = expected["enrollments"]["user_source_id: ... names none of this sync's students or teachers"]
    assert ghosts == set(broken["ghost_enrollments"])

    assert springfield["warnings"] == runs[dirty_run]["counts"]["warnings"]
    assert springfield["warnings"]["students"] == {DROPPED_FLAG: 1}
    assert [(c["check_name"], c["outcome"]) for c in springfield["checks"]] == recorded_checks(warehouse_url, dirty_run)
    points = history_points(runs)
    assert [p["run_id"] for p in springfield["history"]] == [clean_run, dirty_run]
    assert {p["run_id"]: {k: p[k] for k in ("rows", "rejected", "seconds")} for p in springfield["history"]} == points


@REPORT_TESTS
def test_html_report_is_one_offline_page_with_charts_whose_numbers_are_the_warehouse(synced, warehouse_url, tmp_path):
    (clean_run, dirty_run), _ = synced
    text, path = report_file(warehouse_url, tmp_path, "html", "--integration", "springfield")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tables, links = html_tables(text)
    assert not [link for link in links if re.match(r"\s*(https?:)?//", link)], links
    assert "<script" not in text.lower() and "@import" not in text and "url(" not in text

    runs = warehouse_runs(warehouse_url)
    assert as_counts(tables["counts"]) == expected_entities(runs[dirty_run]["counts"])
    assert_reasons_match(as_reasons(tables["errors"]), expected_reasons(warehouse_url, dirty_run))
    assert tables["warnings"][1:] == [["students", DROPPED_FLAG, "1"]]
    assert [row[1] for row in tables["checks"][1:]] == [name for name, _ in recorded_checks(warehouse_url, dirty_run)]

    charts = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S)]
    assert sorted(chart.get("data-metric") for chart in charts) == ["rejected", "rows", "seconds"]
    points = history_points(runs)
    for chart in charts:
        bars = {bar.get("data-run"): float(bar.get("data-value")) for bar in chart.iter("rect")}
        assert bars == {run_id: point[chart.get("data-metric")] for run_id, point in points.items()}
    heights = {bar.get("data-run"): float(bar.get("height")) for bar in charts[0].iter("rect")}
    assert all(height > 0 for height in heights.values())  # drawn, not only labelled


@REPORT_TESTS
def test_markdown_report_of_an_earlier_run_says_when_no_checks_were_recorded(synced, warehouse_url, tmp_path):
    (clean_run, dirty_run), _ = synced
    text, path = report_file(warehouse_url, tmp_path, "md", "--run", clean_run)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    runs = warehouse_runs(warehouse_url)
    tables = md_tables(text)
    assert f"run {clean_run}: success" in text
    assert as_counts(tables["Counts per entity"]) == expected_entities(runs[clean_run]["counts"])
    assert "### Checks\n\nno checks recorded\n" in text
    assert "no records refused" in text

    dirty = md_tables(report(warehouse_url, tmp_path, "--format", "md", "--run", dirty_run).stdout)
    assert_reasons_match(as_reasons(dirty["Rejected records"]), expected_reasons(warehouse_url, dirty_run))
    header, *rows = dirty["Checks"]
    assert [(row[1], row[3]) for row in rows] == recorded_checks(warehouse_url, dirty_run)


@REPORT_TESTS
def test_no_personal_names_without_the_flag(synced, warehouse_url, tmp_path):
    names = payload_names(warehouse_url)
    assert names  # the rejected students' records do carry names
    for fmt in ("html", "md", "json"):
        plain = report(warehouse_url, tmp_path, "--format", fmt).stdout
        assert not [name for name in names if name in plain], fmt
    personal = report(warehouse_url, tmp_path, "--format", "md", "--include-personal-data").stdout
    assert any(name in personal for name in names)


@REPORT_TESTS
def test_an_unknown_run_is_refused(synced, warehouse_url, tmp_path):
    done = report(warehouse_url, tmp_path, "--integration", "springfield", "--run", "no-such-run")
    assert done.returncode == 1 and "no run no-such-run" in done.stderr


def test_each_warehouse_table_carries_the_runs_report_as_markdown(district, write_config, sqlite_url, tmp_path):
    make_dirty(district)
    config = load_config(write_config(district))
    instance = dg.DagsterInstance.ephemeral()
    resources = build_resources(config, sqlite_url, str(tmp_path / "staging"))
    result = sync_integrations(config, ["springfield"], resources=resources, instance=instance)["integrations"]["springfield"]
    assert result["status"] == "success"
    event = instance.get_latest_materialization_event(dg.AssetKey(["warehouse", "students"]))
    markdown = event.asset_materialization.metadata["sync_report"]
    assert isinstance(markdown, dg.MarkdownMetadataValue)
    tables = md_tables(markdown.value)
    assert as_counts(tables["Counts per entity"]) == expected_entities(warehouse_runs(sqlite_url)[result["run_id"]]["counts"])
    assert_reasons_match(as_reasons(tables["Rejected records"]), expected_reasons(sqlite_url, result["run_id"]))
    assert not [name for name in payload_names(sqlite_url) if name in markdown.value]


def test_reason_patterns_strip_the_values_not_the_cause():
    assert reason_pattern("birth_date: 2099-01-01 is after the run's date 2026-05-04") == "birth_date: ... is after the run's date"
    assert reason_pattern("last_name: str_length(1, None) (got O'Brien; x); birth_date: real_date (got 2013-02-30)") == (
        "last_name: str_length(1, None) (got ...); birth_date: real_date (got ...)"
    )
    assert reason_pattern("user_source_id: stu-9 names none of this sync's students or teachers") == (
        "user_source_id: ... names none of this sync's students or teachers"
    )
    assert reason_pattern("source_id: s-1 occurs 3 times with different content; none of them is loaded") == (
        "source_id: ... occurs ... times with different content; none of them is loaded"
    )


def test_a_flood_of_rejections_keeps_payloads_for_the_first_few_per_reason(monkeypatch):
    monkeypatch.setattr(stage, "ALL_PAYLOADS_UP_TO", 10)
    monkeypatch.setattr(stage, "PAYLOADS_PER_REASON", 3)
    reasons = pd.Series(
        [f"birth_date: 20{50 + i}-01-01 is after the run's date 2026-05-04" for i in range(20)] + ["last_name: not_nullable (got None)"] * 20,
        index=range(100, 140),
    )
    kept = stage.payload_positions(reasons)
    assert list(kept) == [100, 101, 102, 120, 121, 122]
    assert list(stage.payload_positions(reasons.iloc[:10])) == list(range(100, 110))  # a small run keeps them all
    assert Counter(reasons.loc[kept]) == Counter({reasons[120]: 3} | {reasons[i]: 1 for i in (100, 101, 102)})
