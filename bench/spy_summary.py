"""Where a py-spy profile's samples went, as shares: by the line they were taken on, and by the function they were under.

    .venv/bin/pip install py-spy
    .venv/bin/py-spy record --gil --format raw -r 100 -o /tmp/extract.txt -- .venv/bin/python bench/extract_cpu.py
    .venv/bin/python bench/spy_summary.py /tmp/extract.txt --under extract_collection follow_pages ApiClient

`--gil` samples only the thread holding the GIL, so in a threaded extraction the shares are shares of
the process's Python CPU. `--under` keeps the stacks that pass through any of these functions (the
extraction's threads; the fetch floor's are left out).
"""

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_FOLDER = re.compile(r"\(.*/")


def summarise(lines, under: list[str]) -> tuple[int, Counter, Counter]:
    own, inside, total = Counter(), Counter(), 0
    for line in lines:
        stack, _, count = line.rstrip().rpartition(" ")
        frames = [_FOLDER.sub("(", frame) for frame in stack.split(";")]
        if under and not any(name in frame for frame in frames for name in under):
            continue
        samples = int(count)
        total += samples
        own[frames[-1]] += samples
        for function in {_LINE.sub(")", frame) for frame in frames}:
            inside[function] += samples
    return total, own, inside


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--under", nargs="*", default=[], help="keep stacks through any of these functions")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    with open(args.profile, encoding="utf-8") as lines:
        total, own, inside = summarise(lines, args.under)
    if not total:
        print("no samples matched", file=sys.stderr)
        return 1
    print(f"{total:,} samples")
    for title, counts in (("taken on this line", own), ("under this function", inside)):
        print(f"{title}:")
        for frame, samples in counts.most_common(args.top):
            print(f"  {100 * samples / total:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
