"""Write a district as a OneRoster CSV package: a zip or a folder with manifest.csv and one CSV per file.

Rows are written one at a time from the lazy district, so memory does not grow with the number of
students, and nothing depends on the clock or the machine: the same inputs give the same bytes.
"""

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sis_simulators.district import District
from sis_simulators.oneroster_csv.columns import DATA_FILES, MANIFEST_FILES, CsvFile
from sis_simulators.oneroster_csv.dirt import Dirt, DirtInjector, DirtReport
from sis_simulators.oneroster_csv.records import Selection, normalised_since
from sis_simulators.overlay import RosterOverlay

BULK, DELTA, ABSENT = "bulk", "delta", "absent"
MANIFEST = "manifest.csv"
SOURCE_SYSTEM_NAME = "sis_pipeline OneRoster simulator"
SOURCE_SYSTEM_CODE = "sis-sim"
# Zip entries carry a timestamp; a fixed one keeps two exports byte-identical.
_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

OpenText = Callable[[str], TextIO]


@dataclass(frozen=True)
class PackageInfo:
    path: Path
    version: str
    modes: dict[str, str]  # every data file of the version -> bulk, delta or absent
    row_counts: dict[str, int]  # data rows written per present file, duplicates included
    dirt: dict[str, DirtReport]  # per enabled dirt kind: what was spoiled and what a reader should do


def export_csv_package(
    district: District | RosterOverlay,
    out: Path,
    *,
    version: str = "1.1",
    modes: dict[str, str] | None = None,
    since: str | None = None,
    dirt: Dirt | None = None,
    as_zip: bool = True,
) -> PackageInfo:
    """Write `district` to `out` (a zip file, or a new or empty folder when `as_zip` is False).

    Pass the RosterOverlay a simulator serves to export its changes: a delta file holds what changed
    at or after `since`, and removed records as `tobedeleted` rows. Files not named in `modes` are bulk.
    """
    if version not in DATA_FILES:
        raise ValueError(f"OneRoster CSV version must be one of {sorted(DATA_FILES)}, got {version!r}")
    out = Path(out)
    roster = district if isinstance(district, RosterOverlay) else RosterOverlay(district)
    files = DATA_FILES[version]
    file_modes = _file_modes(version, files, modes or {})
    if DELTA in file_modes.values() and since is None:
        raise ValueError("delta files need `since`, the timestamp the delta starts from")
    watermark = normalised_since(since) if since is not None else None
    injector = DirtInjector(dirt or Dirt(), roster)

    row_counts = {}
    with _package(out, as_zip) as open_text:
        _write_manifest(open_text, injector, version, file_modes)
        for csv_file in files:
            mode = file_modes[csv_file.key]
            if mode != ABSENT:
                selection = Selection(roster, csv_file.collection, version, watermark if mode == DELTA else None)
                row_counts[csv_file.key] = _write_data_file(open_text, injector, csv_file, selection)
    return PackageInfo(out, version, file_modes, row_counts, injector.reports())


def _file_modes(version: str, files: tuple[CsvFile, ...], modes: dict[str, str]) -> dict[str, str]:
    keys = [csv_file.key for csv_file in files]
    unknown = sorted(set(modes) - set(keys))
    if unknown:
        raise ValueError(f"OneRoster {version} CSV has no {unknown} file; it has {keys}")
    invalid = {key: mode for key, mode in modes.items() if mode not in (BULK, DELTA, ABSENT)}
    if invalid:
        raise ValueError(f"file modes must be bulk, delta or absent, got {invalid}")
    return {key: modes.get(key, BULK) for key in keys}


@contextmanager
def _package(out: Path, as_zip: bool) -> Iterator[OpenText]:
    if not as_zip:
        out.mkdir(parents=True, exist_ok=True)
        if any(out.iterdir()):
            raise FileExistsError(f"{out} is not empty; a package folder must hold nothing else")
        yield lambda name: (out / name).open("w", encoding="utf-8", newline="")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # zip64 from the start: a million-student enrollments.csv passes the 2 GiB plain-zip limit.
        yield lambda name: io.TextIOWrapper(
            archive.open(_zip_entry(name), "w", force_zip64=True), encoding="utf-8", newline=""
        )


def _zip_entry(name: str) -> zipfile.ZipInfo:
    entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE_TIME)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.create_system = 3  # Unix, whatever machine writes it
    entry.external_attr = 0o100644 << 16
    return entry


def _writer(stream: TextIO, injector: DirtInjector, file_name: str):
    preamble, line_end = injector.preamble_and_line_end(file_name)
    stream.write(preamble)
    return csv.writer(stream, lineterminator=line_end)


def _write_manifest(open_text: OpenText, injector: DirtInjector, version: str, modes: dict[str, str]) -> None:
    with open_text(MANIFEST) as stream:
        writer = _writer(stream, injector, MANIFEST)
        writer.writerow(("propertyName", "value"))
        writer.writerow(("manifest.version", "1.0"))
        writer.writerow(("oneroster.version", version))
        writer.writerows((f"file.{key}", modes.get(key, ABSENT)) for key in MANIFEST_FILES[version])
        writer.writerow(("source.systemName", SOURCE_SYSTEM_NAME))
        writer.writerow(("source.systemCode", SOURCE_SYSTEM_CODE))


def _write_data_file(open_text: OpenText, injector: DirtInjector, csv_file: CsvFile, selection: Selection) -> int:
    delta = selection.since is not None
    with open_text(csv_file.name) as stream:
        writer = _writer(stream, injector, csv_file.name)
        writer.writerow(injector.headers(csv_file))
        rows = injector.rows(csv_file, delta, selection.expected_count(), _rows(csv_file, selection.records(), delta))
        written = 0
        for row in rows:
            writer.writerow(row)
            written += 1
    return written


def _rows(csv_file: CsvFile, records: Iterator[dict], delta: bool) -> Iterator[list[str]]:
    """Cells in header order; bulk files leave status and dateLastModified blank, as the spec says."""
    getters = [getter for _, getter in csv_file.columns]
    for record in records:
        for item in csv_file.explode(record) if csv_file.explode else (record,):
            status, modified = (item.get("status") or "", item.get("dateLastModified") or "") if delta else ("", "")
            yield [item["sourcedId"], status, modified, *[get(item) for get in getters]]
