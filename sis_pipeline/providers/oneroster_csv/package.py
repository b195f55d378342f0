"""A OneRoster CSV package (a zip or a folder, as dropped on SFTP): its manifest and its files' rows."""

import csv
import difflib
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO

from sis_pipeline.errors import DataError
from sis_pipeline.normalize.checks import INPUT_ERROR_FIELD, MAX_TEXT_CHARS

log = logging.getLogger(__name__)

MODES = ("bulk", "delta", "absent")
# The headers of every file this reader uses, 1.1 and 1.2 together; others are kept as they come.
KNOWN_HEADERS = {
    "orgs": "sourcedId status dateLastModified name type identifier parentSourcedId",
    "academicSessions": "sourcedId status dateLastModified title type startDate endDate parentSourcedId schoolYear",
    "courses": "sourcedId status dateLastModified schoolYearSourcedId title courseCode grades orgSourcedId",
    "classes": "sourcedId status dateLastModified title grades courseSourcedId classCode classType location "
    "schoolSourcedId termSourcedIds periods",
    "users": "sourcedId status dateLastModified enabledUser orgSourcedIds role username userIds givenName familyName "
    "middleName identifier email grades preferredGivenName primaryOrgSourcedId",
    "roles": "sourcedId status dateLastModified userSourcedId roleType role beginDate endDate orgSourcedId",
    "enrollments": "sourcedId status dateLastModified classSourcedId schoolSourcedId userSourcedId role primary "
    "beginDate endDate",
    "demographics": "sourcedId status dateLastModified birthDate sex",
}
TYPO_CUTOFF = 0.85
DEFAULT_ENCODING = "utf-8"
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
# The csv module refuses cells past its limit and would fail the whole file; read them (up to a far
# larger bound, which only a runaway quote reaches) so the record holding one is rejected alone.
csv.field_size_limit(max(csv.field_size_limit(), 512 * MAX_TEXT_CHARS))


def _squash(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header).lower()


class CsvPackageError(DataError, ValueError):
    """The package itself is unusable (no manifest, unknown mode, unsafe zip, undecodable file): the run fails as `data`."""


class CsvPackage:
    def __init__(self, path: str | Path, *, encoding: str = DEFAULT_ENCODING, max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES):
        self.path = Path(path)
        self.encoding = encoding
        if self.path.is_dir():
            self._names = {p.name.lower(): p.name for p in self.path.iterdir() if p.is_file()}
            self._zip = None
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            # files may sit in a top folder inside the zip; match on the file name
            self._names = _safe_entries(self.path.name, self._zip, max_uncompressed_bytes)
        else:
            raise CsvPackageError(f"{self.path}: not a folder or a zip file")
        if "manifest.csv" not in self._names:
            raise CsvPackageError(f"{self.path}: no manifest.csv")
        self.manifest = {}
        for row in self.rows("manifest"):
            if INPUT_ERROR_FIELD in row:
                raise CsvPackageError(f"{self.path.name}: {row[INPUT_ERROR_FIELD]}")
            self.manifest[row["propertyName"].strip()] = (row.get("value") or "").strip()
        self.version = self.manifest.get("oneroster.version", "1.1")

    def mode(self, file: str) -> str:
        """`bulk`, `delta` or `absent` as the manifest says; a file the manifest omits is absent."""
        mode = self.manifest.get(f"file.{file}", "absent").lower()
        if mode not in MODES:
            raise CsvPackageError(f"{self.path}: manifest file.{file} is {mode!r}, not one of {', '.join(MODES)}")
        if mode != "absent" and f"{file.lower()}.csv" not in self._names:
            raise CsvPackageError(f"{self.path}: manifest lists {file}.csv as {mode} but the file is missing")
        return mode

    def rows(self, file: str) -> Iterator[dict[str, str]]:
        """Rows keyed by the spec's header names; misspelt or mis-cased headers are read as the header they mean.

        A row with more or fewer cells than the header (an unquoted comma in a name) cannot be read
        by position: it comes back as its first cell (the sourcedId), its cells, and why, under
        `INPUT_ERROR_FIELD`, so the record is rejected instead of loaded shifted or blanked.
        """
        where = f"{self.path.name}: {file}.csv"
        lines = self._lines(f"{file}.csv", where)
        reader = csv.reader(lines)
        try:
            header = next(reader, [])
            names = self._resolve_headers(file, header)
            ended = reader.line_num
            for row in reader:
                started, ended = ended + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(names):
                    # the cells as far as they can be told apart, only to see whose row it was
                    yield dict(zip(names, (cell.strip() for cell in row))) | {
                        "_cells": row,
                        INPUT_ERROR_FIELD: f"{file}.csv line {started}: {len(row)} cells where the header has {len(names)}",
                    }
                    continue
                yield dict(zip(names, (cell.strip() for cell in row)))
        except csv.Error as exc:
            raise CsvPackageError(f"{where} line {reader.line_num}: unreadable CSV ({exc})") from None

    def _lines(self, name: str, where: str) -> Iterator[str]:
        """The file's lines decoded one by one, so an undecodable byte is reported with its line.

        Lines keep their endings (csv handles CRLF and quoted newlines); a byte-order mark is dropped.
        Splitting on b"\\n" is safe for the ASCII-compatible encodings a CSV drop uses (UTF-8, Latin-1, cp1252).
        """
        with self._open_binary(name) as binary:
            try:
                for number, raw in enumerate(binary, start=1):
                    try:
                        line = raw.decode(self.encoding)
                    except UnicodeDecodeError as exc:
                        raise CsvPackageError(
                            f"{where} line {number}: not valid {self.encoding} (byte 0x{raw[exc.start]:02x} at column "
                            f"{exc.start + 1}); set options.encoding to the file's encoding"
                        ) from None
                    yield line.removeprefix("\ufeff") if number == 1 else line
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise CsvPackageError(f"{where}: the zip entry is damaged ({exc})") from None

    def _open_binary(self, name: str) -> BinaryIO:
        real = self._names[name.lower()]
        if self._zip is None:
            return open(self.path / real, "rb")
        return self._zip.open(real)

    def _resolve_headers(self, file: str, header: list[str]) -> list[str]:
        known = KNOWN_HEADERS.get(file, "").split()
        by_squash = {_squash(name): name for name in known}
        resolved = []
        for raw in header:
            squashed = _squash(raw)
            name = by_squash.get(squashed)
            if name is None:
                close = difflib.get_close_matches(squashed, list(by_squash), n=1, cutoff=TYPO_CUTOFF)
                name = by_squash[close[0]] if close else raw.strip()
            if name != raw:
                log.warning("%s: %s.csv header %r read as %r", self.path.name, file, raw, name)
            resolved.append(name)
        return resolved

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _safe_entries(package: str, archive: zipfile.ZipFile, max_uncompressed_bytes: int) -> dict[str, str]:
    """The zip's files by lower-cased file name, after refusing what no honest export contains.

    Entries outside the zip's root (`../`, absolute paths) and names that occur twice are refused,
    and so is a declared uncompressed size past the bound: zipfile never inflates an entry beyond
    its declared size, so checking the declarations refuses a zip bomb before anything is extracted.
    """
    entries = [info for info in archive.infolist() if not info.is_dir()]
    for info in entries:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or PureWindowsPath(info.filename).drive or ".." in parts:
            raise CsvPackageError(f"{package}: entry {info.filename!r} points outside the zip's root; refusing the package")
    names: dict[str, str] = {}
    for info in entries:
        name = PurePosixPath(info.filename.replace("\\", "/")).name.lower()
        if name in names and name.endswith(".csv"):  # which users.csv would be read?
            raise CsvPackageError(f"{package}: {name} occurs twice ({names[name]!r}, {info.filename!r}); refusing the package")
        names[name] = info.filename
    total = sum(info.file_size for info in entries)
    if total > max_uncompressed_bytes:
        raise CsvPackageError(
            f"{package}: {total} bytes uncompressed, more than options.max_uncompressed_bytes ({max_uncompressed_bytes}); "
            "refusing the package before extracting it"
        )
    return names
