"""Resources: the warehouse, the staging area and a client per configured SIS, set up once per process."""

import json
import os
import tempfile
import shutil
from functools import cache
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr
from sqlalchemy.engine import Engine

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.datasets import StagedRun
from sis_pipeline.providers.common.registry import provider_class
from sis_pipeline.staging import DEFAULT_KEEP_RUNS, PRIVATE_FILE_MODE, private_dir, staging_root
from sis_pipeline.token_cipher import token_cipher
from sis_pipeline.warehouse.engine import create_warehouse_engine, warehouse_url
from sis_pipeline.warehouse.run_lock import RunLock, acquire_run_lock
from sis_pipeline.warehouse.schema import ensure_schema
from sis_pipeline.warehouse.tokens import StoredTokens


LOADED_HANDLE = "loaded_by_warehouse"
HELD_HANDLE_PREFIX = "held_"


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; it is the pipeline user's alone (0600)."""
    private_dir(path.parent)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as tmp:
        os.fchmod(tmp.fileno(), PRIVATE_FILE_MODE)
        tmp.write(text)
    os.replace(tmp.name, path)


@cache
def _engine(url: str) -> Engine:
    engine = create_warehouse_engine(url)
    ensure_schema(engine)
    return engine


class WarehouseResource(dg.ConfigurableResource):
    """The roster warehouse: `SIS_WAREHOUSE_URL`, else an embedded SQLite file under `.data/`."""

    url: str = ""

    def engine(self) -> Engine:
        return _engine(self.url or warehouse_url())


class RunLockResource(dg.ConfigurableResource):
    """Holds each integration's run lock from the run's first step to the end of the run.

    Dagster sets a resource up once per run with the in-process executor and tears it down when the run
    ends, whether it succeeded or not; that teardown is what releases the lock.
    """

    warehouse: dg.ResourceDependency[WarehouseResource]
    _locks: dict[str, RunLock] = PrivateAttr(default_factory=dict)

    def hold(self, integration: str, run_id: str) -> None:
        """Take the integration's run lock for the rest of this run (the run's later steps find it held),
        or raise RunInProgressError if another run holds it."""
        if integration not in self._locks:
            self._locks[integration] = acquire_run_lock(self.warehouse.engine(), integration, run_id)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._locks = {}

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for lock in self._locks.values():
            lock.release()
        self._locks = {}


class StagingResource(dg.ConfigurableResource):
    """Where steps leave datasets for the next step (`SIS_STAGING_DIR`, else `.data/staging`).

    `keep_runs` run folders per integration are kept (`SIS_STAGING_KEEP_RUNS` when built from the environment).
    """

    root: str = ""
    keep_runs: int = DEFAULT_KEEP_RUNS

    def integration_dir(self, integration: str) -> Path:
        return Path(self.root or staging_root()) / integration

    def run_dir(self, integration: str, run_id: str) -> Path:
        return self.integration_dir(integration) / run_id

    def handle_path(self, integration: str, step: str) -> Path:
        """Where the newest successful output of a step is recorded (the IO manager owns these files)."""
        return self.integration_dir(integration) / "handles" / f"{step}.json"

    def mark_loaded(self, integration: str, loaded: StagedRun) -> None:
        """Remember what the warehouse last loaded, so retention keeps the newest successful run's files."""
        path = self.handle_path(integration, LOADED_HANDLE)
        write_atomically(path, json.dumps({"type": type(loaded).__name__, **loaded.model_dump(mode="json")}, indent=1))

    def mark_held(self, integration: str, run_id: str, held: StagedRun) -> None:
        """Keep a held run's staged files until a person approves or discards it (retention keeps what handles name)."""
        path = self.handle_path(integration, f"{HELD_HANDLE_PREFIX}{run_id}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps({"type": type(held).__name__, **held.model_dump(mode="json")}, indent=1))

    def release_held(self, integration: str, run_id: str) -> None:
        """The hold was decided: its files age out like any other run's."""
        self.handle_path(integration, f"{HELD_HANDLE_PREFIX}{run_id}").unlink(missing_ok=True)

    def prune(self, integration: str, current_run_id: str) -> int:
        """Delete the oldest run folders beyond `keep_runs`.

        Never the current run's, and never one a step's newest successful output still points at: the
        warehouse step re-run alone must find the data of the last good run even after failed ones.
        """
        folder = self.integration_dir(integration)
        if not folder.is_dir():
            return 0
        keep = {current_run_id} | self._referenced_runs(integration)
        runs = sorted(
            (p for p in folder.iterdir() if p.is_dir() and p.name != "handles" and p.name not in keep),
            key=lambda p: p.stat().st_mtime,
        )
        stale = runs[: max(0, len(runs) - max(0, self.keep_runs - len(keep)))]
        for run in stale:
            shutil.rmtree(run, ignore_errors=True)
        return len(stale)

    def _referenced_runs(self, integration: str) -> set[str]:
        """Run folders holding a dataset that some step's newest handle points at."""
        folder = self.integration_dir(integration)
        handles = folder / "handles"
        paths = [Path(p) for handle in sorted(handles.glob("*.json")) for p in dataset_paths(json.loads(handle.read_text()))]
        return {p.relative_to(folder).parts[0] for p in paths if p.is_relative_to(folder)}


def dataset_paths(document) -> list[str]:
    if isinstance(document, dict):
        own = [document["path"]] if isinstance(document.get("path"), str) else []
        return own + [p for value in document.values() for p in dataset_paths(value)]
    return []


def open_provider(integration: IntegrationConfig, warehouse: WarehouseResource | None = None):
    """A connected provider for the integration; close it when done.

    With a warehouse and SIS_TOKEN_KEY, its OAuth token is kept there encrypted between runs.
    """
    provider = provider_class(integration.provider)(integration)
    cipher = token_cipher() if warehouse is not None and hasattr(provider, "use_token_cache") else None
    if cipher is not None:
        provider.use_token_cache(lambda token_url: StoredTokens(warehouse.engine(), integration.name, token_url, cipher))
    return provider


def normalizer_for(integration: IntegrationConfig):
    """The provider's normaliser; a provider speaking several dialects picks one per integration."""
    cls = provider_class(integration.provider)
    return cls.normalizer_for(integration)
