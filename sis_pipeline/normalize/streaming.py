"""Normalising while extraction still runs: a worker process follows the raw files as pages land.

Extraction (extract.py) tells a listener which collections it reads, how many records of each are on
disk after every page, and when each is complete. Once any collection holds a chunk's worth of records,
`NormalizeWhileExtracting` starts a worker process that feeds each entity's chunks to the very
`EntityChunks` the after-the-fact path uses (chunked.py) as soon as they are written, and finishes the
entities in their usual order once their collections are complete. When extraction ends only the tail
is left (the last chunks, the orphan check, the Parquet writes), so the normalise step adopts a result
equal to what it would have computed (defs/rosters.py).

Why a process: normalising is CPU-bound Python (pandas, pandera); in a thread it would hold the GIL the
fetch threads need to parse pages. Why only from one chunk on: starting the process costs about two
seconds of imports, more than a district smaller than a chunk takes to normalise afterwards.

Anything unexpected (a collection Arrow cannot read in chunks, a worker that dies) gives no result:
the normalise step then normalises the staged files itself, as when re-run alone. Nothing is lost.
"""

import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.errors import describe
from sis_pipeline.normalize.chunked import REFERENCED, ChunkOptions, EntityChunks, related_collections
from sis_pipeline.normalize.chunks import MixedTypes, iter_records, parse_lines
from sis_pipeline.normalize.models import ENTITIES
from sis_pipeline.normalize.related import Lookup

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.5


class NormalizeWhileExtracting:
    """extract()'s listener: starts the worker once a collection reaches a chunk, then keeps it informed.

    `planned`, `written` and `finished` are called from extraction's threads; `result` once extraction
    has returned, `close` always (it stops a worker still running, e.g. when the run was interrupted).
    """

    def __init__(
        self,
        integration: IntegrationConfig,
        normalizer,
        out_dir: Path,
        *,
        today: date,
        newest_wins: bool,
        size: int,
        hold_while_matching: dict[str, list[str]] | None = None,
    ):
        self._arguments = (integration, normalizer, out_dir, today, newest_wins, size)
        self._size = size
        # The page digests of a delivery the warehouse already holds (delivery.py): while every page
        # matches, tonight's may be that delivery again and need no normalising, so the worker waits
        # (its CPU is the fetch's); the first page that differs starts it, from the first record.
        self._expected = hold_while_matching
        self._matching = bool(hold_while_matching)
        self._pages: dict[str, int] = {}
        self._most_rows = 0
        self._out_dir = out_dir
        self._lock = threading.Lock()
        self._backlog: list[tuple] = []  # what the worker must hear first, when it starts late
        self._process: multiprocessing.process.BaseProcess | None = None
        self._messages = self._results = None
        self._failed = False
        self.finished_at: dict[str, float] = {}  # entity -> when the worker finished it (epoch seconds)
        self.tail_seconds: float | None = None  # how long normalising went on after the last page
        self.memory_pool: str | None = None  # the worker's Arrow allocator (return_freed_arrow_memory)

    def planned(self, modes: dict[str, str]) -> None:
        self._send(("planned", modes))

    def written(self, collection: str, path: Path, rows: int, digest: str | None = None) -> None:
        with self._lock:
            page = self._pages[collection] = self._pages.get(collection, 0) + 1
            if self._matching:
                expected = self._expected.get(collection, [])
                self._matching = page <= len(expected) and expected[page - 1] == digest
            self._most_rows = max(self._most_rows, rows)
            self._start_when_due()
        self._send(("written", collection, str(path), rows))

    def finished(self, collection: str, path: Path, rows: int | None) -> None:
        """`rows` None: the SIS refused this optional collection, whose file is gone."""
        with self._lock:
            if self._matching and (rows is None or self._pages.get(collection, 0) != len(self._expected.get(collection, []))):
                self._matching = False
                self._start_when_due()
        self._send(("finished", collection, str(path), rows))

    def result(self) -> dict[str, dict] | None:
        """The entities' datasets (normalize_integration's result), or None when there is none to adopt."""
        if self._process is None:
            return None
        waiting_since = time.perf_counter()
        self._send(("end",))
        while True:
            try:
                kind, payload = self._results.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._process.is_alive():
                    kind, payload = "failed", f"the worker process exited ({self._process.exitcode})"
                    break
        self._process.join()
        self._process = None
        if kind == "failed":
            log.warning("normalising while extracting gave no result (%s); the normalise step reads the staged files", payload)
            shutil.rmtree(self._out_dir, ignore_errors=True)
            return None
        self.finished_at = payload["finished_at"]
        self.memory_pool = payload["memory_pool"]
        self.tail_seconds = round(time.perf_counter() - waiting_since, 2)
        return payload["entities"]

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.join()
            self._process = None

    def _start_when_due(self) -> None:
        if self._process is None and not self._failed and not self._matching and self._most_rows >= self._size:
            self._start()

    def _start(self) -> None:
        try:
            pickle.dumps(self._arguments)  # a plugin's normaliser may not travel to another process
        except Exception as why:
            log.info("not normalising while extracting: the normaliser cannot be sent to a worker (%s)", describe(why))
            self._failed = True
            return
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self._messages, self._results = context.Queue(), context.Queue()
        self._process = context.Process(
            target=_work, args=(self._messages, self._results, *self._arguments), name="sis-normalize", daemon=True
        )
        self._process.start()
        for message in self._backlog:
            self._messages.put(message)
        self._backlog = []

    def _send(self, message: tuple) -> None:
        with self._lock:
            if self._failed:
                return
            if self._process is None:
                self._backlog.append(message)
            else:
                self._messages.put(message)


@dataclass
class _Entity:
    name: str
    source: str
    related: tuple[str, ...]
    chunks: EntityChunks | None = None
    fed: int = 0
    lines: object = None  # the source file, open for reading, positioned after the records fed
    started: float = 0.0
    whole: bool = False  # Arrow refused a chunk: read whole in Python once complete, as chunked.py does


@dataclass
class _Extraction:
    """What the worker has heard: per collection its mode, records on disk, and whether it is complete."""

    modes: dict[str, str] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    ended: bool = False

    def hear(self, message: tuple, raw: dict[str, dict]) -> None:
        kind, *rest = message
        if kind == "planned":
            self.modes = rest[0]
        elif kind == "written":
            collection, path, rows = rest
            raw.setdefault(collection, {"path": path, "mode": self.modes[collection]})
            self.rows[collection] = rows
        elif kind == "finished":
            collection, path, rows = rest
            if rows is None:
                self.refused.add(collection)
                raw.pop(collection, None)
            else:
                raw.setdefault(collection, {"path": path, "mode": self.modes[collection]})
                self.rows[collection] = rows
            self.complete.add(collection)
        elif kind == "end":
            self.ended = True

    def done(self, collection: str) -> bool:
        """Complete, refused, or never to be read (absent, or extraction ended without it)."""
        absent = self.modes.get(collection, "absent") == "absent"
        return collection in self.complete or absent or (self.ended and collection not in self.rows)


# Below the fetch threads: pages keep arriving at the SIS's pace while the worker takes what CPU is left.
_WORKER_NICENESS = 10


def _work(messages, results, integration, normalizer, out_dir: Path, today: date, newest_wins: bool, size: int) -> None:
    os.nice(_WORKER_NICENESS)
    try:
        pool = return_freed_arrow_memory()
        result = _Worker(messages, integration, normalizer, out_dir, today, newest_wins, size).run()
        results.put(("done", result | {"memory_pool": pool}))
    except BaseException as exc:  # the parent falls back to normalising the staged files; it only needs why
        results.put(("failed", f"{type(exc).__name__}: {describe(exc)}"))


def return_freed_arrow_memory() -> str:
    """Arrow's allocations in this process from jemalloc, which Arrow sets to give freed pages back at once;
    the default (mimalloc) keeps them. Every chunk's frames pass through Arrow: on a million students' files
    the normaliser peaked at 710 MiB instead of 769, in the same time (bench/normalize_profile.py).
    A pyarrow built without jemalloc keeps its default. Returns the pool's backend name."""
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:
        pass
    return pa.default_memory_pool().backend_name


class _Worker:
    def __init__(self, messages, integration, normalizer, out_dir, today, newest_wins, size):
        self.messages, self.normalizer, self.out_dir, self.size = messages, normalizer, out_dir, size
        self.raw: dict[str, dict] = {}  # filled as collections appear: ChunkOptions reads it by reference
        self.options = ChunkOptions(integration, normalizer, self.raw, {}, today, newest_wins, size)
        self.heard = _Extraction()
        self.related_frames: dict[str, pd.DataFrame] = {}
        self.complete_ids: dict[str, Lookup] = {}
        self.results: dict[str, dict] = {}
        self.finished_at: dict[str, float] = {}

    def run(self) -> dict[str, dict]:
        while not self.heard.modes:
            self._hear(block=True)
        self.options.modes.update(self.heard.modes)
        waiting = [
            _Entity(entity, self.normalizer.sources[entity][0], tuple(self.normalizer.sources[entity][1:]))
            for entity in ENTITIES
            if self.heard.modes.get(self.normalizer.sources[entity][0], "absent") != "absent"
        ]
        try:
            while waiting:
                waiting = [entity for entity in waiting if entity.source not in self.heard.refused]
                if waiting and self._finish_ready(waiting[0]):
                    waiting.pop(0)
                elif not any(self._feed(entity) for entity in waiting):
                    self._hear(block=True)
                self._hear(block=False)
            while not self.heard.ended:
                self._hear(block=True)
        finally:
            for entity in waiting:
                if entity.chunks is not None:
                    entity.chunks.discard()
                if entity.lines is not None:
                    entity.lines.close()
        return {"entities": self.results, "finished_at": self.finished_at}

    def _hear(self, *, block: bool) -> None:
        try:
            message = self.messages.get(timeout=_POLL_SECONDS) if block else self.messages.get_nowait()
        except queue.Empty:
            return
        self.heard.hear(message, self.raw)

    def _feed(self, entity: _Entity) -> bool:
        """Add the entity's next chunk if one is on disk (and its related collections are complete)."""
        if entity.whole:
            return False
        if not all(self.heard.done(collection) for collection in entity.related) or entity.source not in self.raw:
            return False
        available = self.heard.rows.get(entity.source, 0) - entity.fed
        if available <= 0 or (available < self.size and not self.heard.done(entity.source)):
            return False
        if entity.chunks is None:
            self._start(entity)
            entity.lines = open(self.raw[entity.source]["path"], "rb")
        count = min(available, self.size)
        lines = [entity.lines.readline() for _ in range(count)]
        try:
            entity.chunks.add(parse_lines(lines, self.normalizer.schemas[entity.source], entity.fed))
        except MixedTypes:
            entity.chunks.discard()
            entity.whole = True
            return True
        entity.fed += count
        return True

    def _start(self, entity: _Entity) -> None:
        entity.started = time.perf_counter()
        related = related_collections(self.options, entity.name, self.related_frames)
        entity.chunks = EntityChunks(self.options, entity.name, related, self.out_dir)

    def _finish_ready(self, entity: _Entity) -> bool:
        """Finish the entity once every record of its source was fed; entities finish in their usual order."""
        if not self.heard.done(entity.source):
            return False
        if entity.whole:  # the whole file at once, in Python: what the after-the-fact path does too
            self._start(entity)
            source = self.raw[entity.source]["path"]
            for chunk in iter_records(source, self.normalizer.schemas[entity.source], self.size, python=True):
                entity.chunks.add(chunk)
        elif entity.fed < self.heard.rows.get(entity.source, 0):
            return False
        elif entity.chunks is None:  # an empty collection: one empty chunk, as iter_records gives
            if not all(self.heard.done(collection) for collection in entity.related):
                return False
            self._start(entity)
            entity.chunks.add(pd.DataFrame(index=pd.RangeIndex(0)))
        try:
            result, ids = entity.chunks.finish(self.complete_ids)
        finally:
            entity.chunks.discard()
            if entity.lines is not None:
                entity.lines.close()
        if result["mode"] == "bulk" and entity.name in REFERENCED:
            self.complete_ids[entity.name] = ids
        self.results[entity.name] = result | {"seconds": round(time.perf_counter() - entity.started, 3)}
        self.finished_at[entity.name] = time.time()
        still_needed = {c for later in ENTITIES[ENTITIES.index(entity.name) + 1 :] for c in self.normalizer.sources[later][1:]}
        for collection in set(self.related_frames) - still_needed:
            del self.related_frames[collection]
        return True
