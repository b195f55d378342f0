"""Where the normalise step's time and memory go: a staged run's raw files normalised in this process.

    .venv/bin/python bench/normalize_profile.py STAGING/INTEGRATION/RUN_ID/raw [--replicate 10]

Normalises the raw NDJSON files of a staged OneRoster run (`bench/suite.py --keep-db` keeps them) with
the chunked path in this one process, and prints the seconds of each entity and the peak RSS while it
was being normalised (sampled every 0.1 s), then the process's CPU seconds. The worker process of a
sync runs the same code on the same files, minus the waiting for pages.

Then, per entity, what the normaliser held when the entity's last chunk was in and `finish` began (the
moment what an entity keeps across its chunks is largest): the RSS, the bytes Arrow's pool had
allocated, and the live bytes of each structure kept across chunks or entities: related collections,
the lookups derived from them, the ids of earlier entities kept for the orphan check, this entity's
ids, and its id hashes and positions. What RSS holds beyond those is the interpreter and libraries (the
RSS before normalising, printed first) and memory freed but kept by the allocators.

`--replicate N` first writes the files N times over into a scratch folder, every `sourcedId` prefixed
with the copy's number: a district N times the size with its references intact. The million-student
figures in docs/benchmarks.md were made from a 100,000-student run this way.
"""

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.defs.resources import normalizer_for
from sis_pipeline.normalize import chunked, related
from sis_pipeline.normalize.stage import normalize_integration

INTEGRATION = IntegrationConfig(
    name="bench_district", provider="oneroster", base_url="http://127.0.0.1/ims/oneroster/v1p1",
    token_url="http://127.0.0.1/oauth/token", client_id_env="BENCH_CLIENT_ID", client_secret_env="BENCH_CLIENT_SECRET",
)


def rss_mib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))


class PeakPerEntity:
    """The highest RSS seen while each entity was being normalised (and while it was being finished)."""

    def __init__(self):
        self.current, self.peaks, self.held = "imports", {}, {}
        original_init, original_finish = chunked.EntityChunks.__init__, chunked.EntityChunks.finish
        watcher = self

        def init(chunks, options, entity, *args, **kwargs):
            watcher.current = entity
            original_init(chunks, options, entity, *args, **kwargs)

        def finish(chunks, complete_ids, *args, **kwargs):
            watcher.held[chunks.entity] = held(chunks, complete_ids)
            watcher.current = f"{chunks.entity} (finish)"
            return original_finish(chunks, complete_ids, *args, **kwargs)

        chunked.EntityChunks.__init__, chunked.EntityChunks.finish = init, finish
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peaks[self.current] = max(self.peaks.get(self.current, 0), rss_mib())
            time.sleep(0.1)


def held(chunks: chunked.EntityChunks, complete_ids: dict) -> dict[str, float]:
    """MiB: the RSS, Arrow's allocated bytes, and the live bytes of what the normaliser keeps across chunks."""
    gc.collect()
    frames = {id(frame): frame for frame in chunks.related.values()}
    return {
        "rss": rss_mib(),
        "arrow pool": pa.total_allocated_bytes() / 2**20,
        "related collections": sum(frame.memory_usage(index=True, deep=True).sum() for frame in frames.values()) / 2**20,
        "lookups derived from them": sum(nbytes(table) for table in related._BUILT.values()) / 2**20,
        "earlier ids (orphan check)": sum(nbytes(lookup) for lookup in complete_ids.values()) / 2**20,
        "this entity's ids": sum(ids.nbytes for ids in chunks.ids) / 2**20,
        "id hashes and positions": sum(a.nbytes for a in chunks.hashes + chunks.positions) / 2**20,
    }


def nbytes(table) -> int:
    """Live bytes of a lookup (Arrow ids and values, numpy hashes), or of what else once_per keeps (pandas)."""
    if isinstance(table, related.Lookup) and table.frame is None:
        values = table._values.nbytes if table._values is not None else 0
        return table._ids.nbytes + table._hashes.nbytes + values
    frame = table.frame if isinstance(table, related.Lookup) else table
    return int(np.sum(frame.memory_usage(index=True, deep=True)))


def replicate(raw: Path, copies: int, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(raw.glob("*.ndjson")):
        with open(into / path.name, "wb") as out:
            for copy in range(copies):
                prefix = b'"sourcedId":"' + str(copy).encode()
                with open(path, "rb") as lines:
                    for line in lines:
                        out.write(line.replace(b'"sourcedId":"', prefix))
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path, help="a staged run's raw folder (NDJSON per collection)")
    parser.add_argument("--replicate", type=int, default=1, help="normalise the district this many times over")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="sis_bench_normalize_"))
    try:
        raw = replicate(args.raw, args.replicate, scratch / "raw") if args.replicate > 1 else args.raw
        handles = {path.stem: {"path": str(path), "mode": "bulk"} for path in sorted(raw.glob("*.ndjson"))}
        before = rss_mib()
        watcher = PeakPerEntity()
        started = time.perf_counter()
        results = normalize_integration(INTEGRATION, normalizer_for(INTEGRATION), handles, scratch / "out", date.today())
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"RSS before normalising (interpreter and libraries): {before:,} MiB")
        print(f"normalised {sum(r['fetched'] for r in results.values()):,} records in {seconds:.1f} s, "
              f"CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {usage.ru_maxrss // 1024:,} MiB")

        def peak(phase: str) -> str:
            return f"{watcher.peaks[phase]:>6,} MiB" if phase in watcher.peaks else "     - (too short to sample)"

        for entity, result in results.items():
            print(f"  {entity:12} {result['fetched']:>10,} records {result['seconds']:8.1f} s  "
                  f"peak {peak(entity)}, finishing {peak(f'{entity} (finish)')}")
        print("held when each entity's last chunk was in, MiB:")
        for entity, figures in watcher.held.items():
            print(f"  {entity:12} " + ", ".join(f"{name} {value:,.1f}" for name, value in figures.items()))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
