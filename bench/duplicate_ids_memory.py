"""Peak memory of finding the ids that repeat across an entity's chunks (normalize/chunked.py `_suspects`).

    .venv/bin/python bench/duplicate_ids_memory.py [--records 6240048] [--chunk 20000]

Each way runs in a process of its own, on the same synthetic ids (the 1M-student district's enrollment
count by default) hashed chunk by chunk as the normaliser does, and prints the peak RSS above what the
per-chunk hashes and positions already hold (VmHWM, reset once they are built): `pandas` is the way
before stop 12 (the joined hashes through `Series.duplicated`), `sorted` is this tree's `_suspects`.
"""

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def status(key: str) -> int:
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) // 1024 for line in lines if line.startswith(key))


def child(way: str, records: int, chunk: int) -> None:
    import numpy as np
    import pandas as pd

    from sis_pipeline.normalize.chunked import EntityChunks

    hashes, positions = [], []
    for start in range(0, records, chunk):
        ids = np.array([f"enr-{number:09d}" for number in range(start, min(records, start + chunk))], dtype=object)
        hashes.append(pd.util.hash_array(ids))
        positions.append(np.arange(start, start + len(ids)))
    with open("/proc/self/clear_refs", "w") as clear:  # the peak from here on
        clear.write("5")
    before = status("VmRSS")
    if way == "pandas":
        joined, at = np.concatenate(hashes), np.concatenate(positions)
        found = at[pd.Series(joined).duplicated(keep=False).to_numpy()]
    else:
        chunks = EntityChunks.__new__(EntityChunks)
        chunks.hashes, chunks.positions = hashes, positions
        found = chunks._suspects()
    print(f"{way:>7}: {len(found)} repeated, peak {status('VmHWM') - before} MiB above the per-chunk arrays ({before} MiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=6_240_048)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--child", choices=["pandas", "sorted"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.records, args.chunk)
        return 0
    for way in ("pandas", "sorted"):
        subprocess.run([sys.executable, __file__, "--child", way, "--records", str(args.records), "--chunk", str(args.chunk)], check=True, cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
