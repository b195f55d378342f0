"""`sis-simulate oneroster-csv`: write a synthetic district as a OneRoster CSV package."""

import argparse
from pathlib import Path

from sis_simulators.district import District
from sis_simulators.oneroster_csv.columns import DATA_FILES
from sis_simulators.oneroster_csv.dirt import Dirt
from sis_simulators.oneroster_csv.package import PackageInfo, export_csv_package

DIRTY_ROWS = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True, help="the zip to write, or the folder with --folder")
    parser.add_argument("--version", dest="oneroster_version", choices=sorted(DATA_FILES), default="1.1")
    parser.add_argument("--folder", action="store_true", help="write a folder of CSV files instead of a zip")
    parser.add_argument("--seed", type=int, default=42, help="the same seed gives the REST simulator's records")
    parser.add_argument("--school-year", type=int, default=2027, help="the ending year, as OneRoster names it")
    parser.add_argument(
        "--dirty", action="store_true",
        help=f"every kind of real-world dirt, {DIRTY_ROWS} rows per row kind; the spoiled rows are listed",
    )


def run(args: argparse.Namespace) -> int:
    info = export_csv_package(
        District(args.students, args.seed, args.school_year),
        args.out,
        version=args.oneroster_version,
        dirt=Dirt.everything(DIRTY_ROWS) if args.dirty else None,
        as_zip=not args.folder,
    )
    print(describe(info))
    return 0


def describe(info: PackageInfo) -> str:
    lines = [f"OneRoster {info.version} CSV package: {info.path}"]
    lines += [f"  {key}.csv {mode} {info.row_counts.get(key, 0)} rows" for key, mode in info.modes.items()]
    for report in info.dirt.values():
        lines.append(f"dirt {report.kind} ({report.action}): {report.reason}")
        lines += [f"  {name} headers {headers}" for name, headers in report.headers.items()]
        lines += [f"  {name} rows {' '.join(ids)}" for name, ids in report.rows.items()]
        if not report.headers and not report.rows:
            lines.append(f"  files {' '.join(report.files) or 'none (no file this kind applies to)'}")
    return "\n".join(lines)
