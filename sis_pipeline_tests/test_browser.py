"""A real browser in the Dagster UI of `scripts/demo-ui.sh`: Debian's chromium driven by Playwright.

Materializes the demo partition from the UI, sees every check of a warehouse table pass, then makes the
simulated district dirty (a student loses every enrollment) and sees a check fail after the next run.
Screenshots go to test-artifacts/browser/ (printed at the end).
"""

import os
import re
import shutil
import signal
import time
import warnings

import httpx
import pytest

from sis_pipeline.quality.checks import CATALOGUE
from sis_pipeline_tests.first_hour import DEMO_PARTITION, REPO, clean_clone, demo_ui, session_processes

CHROMIUM = "/usr/bin/chromium"
# What this closed network needs: no GPU, no sandbox as root, and no call home at start.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts" / "browser"
UI_TIMEOUT_MS = 60_000  # React on a slow, shared machine
RUN_TIMEOUT_MS = 120_000


def _browser_unavailable(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser test is required under CI=true: {reason}", pytrace=False)
    warnings.warn(f"browser test SKIPPED: {reason}", stacklevel=2)
    pytest.skip(f"no browser: {reason}")


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        _browser_unavailable(f"{CHROMIUM} is missing (scripts/test.sh installs Debian's chromium as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_unavailable("the playwright package is missing (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    def __init__(self, page):
        self.page, self.taken = page, []
        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        ARTIFACTS.mkdir(parents=True)

    def take(self, name: str) -> None:
        path = ARTIFACTS / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.taken.append(path)


def runs(first_hour) -> list[dict]:
    query = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
    return first_hour.graphql(query)["runsOrError"]["results"]


def wait_for_new_run(first_hour, before: set[str], timeout: float = 60) -> str:
    """The id of the run the UI just launched (for the demo partition)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [run for run in runs(first_hour) if run["runId"] not in before]
        if new:
            assert {"key": "dagster/partition", "value": DEMO_PARTITION} in new[0]["tags"], new[0]
            return new[0]["runId"]
        time.sleep(0.5)
    raise AssertionError(f"no run launched within {timeout}s")


def materialize_demo_partition_from_the_ui(page, first_hour, shots: Shots) -> None:
    """Lineage → Materialize all… → partition demo_district → Launch 1 run → the run's page → Success."""
    page.goto(f"{first_hour.url}/asset-groups")
    page.get_by_text("warehouse", exact=True).first.wait_for()
    shots.take("asset-graph")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=DEMO_PARTITION).click()
    shots.take("partition-chosen")
    before = {run["runId"] for run in runs(first_hour)}
    dialog.get_by_role("button", name="Launch 1 run").click()
    run_id = wait_for_new_run(first_hour, before)
    page.get_by_role("link", name=re.compile(r"\bRuns$")).first.click()  # the run as the Runs page lists it
    page.get_by_role("link", name=re.compile(f"{run_id[:8]}$")).click()
    page.wait_for_url(re.compile(f"/runs/{run_id}"))
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_TIMEOUT_MS)
    shots.take("run-succeeded")
    status = first_hour.graphql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id})
    assert status["runOrError"]["status"] == "SUCCESS"


def checks_of(page, first_hour, table: str, shots: Shots, name: str) -> dict[str, str]:
    """The Checks tab of warehouse/`table`: each check's name and its latest state as the UI shows it."""
    page.goto(f"{first_hour.url}/assets/warehouse/{table}")
    page.get_by_role("tab", name="Checks").click()
    page.get_by_text(re.compile(r"^Checks \(\d+\)$")).wait_for()
    listed = page.get_by_text(re.compile(r"^Checks \(\d+\)$")).inner_text()
    expected = [check.name for check in CATALOGUE if check.entity == table]
    assert listed == f"Checks ({len(expected)})", (listed, expected)
    states = {}
    for check in expected:  # the list shows each check's name (its title) and, beside it, its latest state
        states[check] = page.get_by_title(check, exact=True).locator("xpath=following-sibling::span").inner_text()
    shots.take(name)
    return states


def test_materialize_the_demo_from_the_ui_and_see_its_checks_pass_then_fail_on_dirty_data(browser, tmp_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    clone = clean_clone(tmp_path)
    with demo_ui(clone) as first_hour:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(UI_TIMEOUT_MS)
        # A fresh instance greets its first visitor with a newsletter form: skip it, as a new user would.
        page.goto(f"{first_hour.url}/asset-groups")
        greeting = page.get_by_text("Join the Dagster community")
        try:
            greeting.wait_for(timeout=30_000)
        except PlaywrightTimeout:
            pass
        else:
            page.get_by_role("button", name="Skip").click()
            greeting.wait_for(state="hidden")
        shots = Shots(page)
        try:
            materialize_demo_partition_from_the_ui(page, first_hour, shots)
            clean = checks_of(page, first_hour, "students", shots, "students-checks-clean")
            assert clean and set(clean.values()) == {"Succeeded"}, clean
            assert "without_enrollments" in clean

            # The district turns dirty: the first student loses every enrollment (still a valid roster).
            from sis_simulators.generated import ID_DIGITS

            gone = [{"op": "remove", "collection": "enrollments", "sourcedId": f"enr-{i:0{ID_DIGITS}d}"} for i in range(6)]
            httpx.post(f"{first_hour.simulator}/admin/changes", json=gone).raise_for_status()

            materialize_demo_partition_from_the_ui(page, first_hour, shots)
            dirty = checks_of(page, first_hour, "students", shots, "students-checks-dirty")
            assert dirty["without_enrollments"] == "Failed", dirty
            assert {state for check, state in dirty.items() if check != "without_enrollments"} == {"Succeeded"}, dirty
        except Exception:
            shots.take("failure")
            raise
        finally:
            print(f"\nbrowser screenshots: {ARTIFACTS}")

        process = first_hour.process
        assert first_hour.stop(signal.SIGTERM) == 130  # a service manager's stop
        assert session_processes(process.pid) == []
