"""A OneRoster CSV package (a zip or a folder, as dropped on SFTP): its manifest and its files' rows."""

import csv
import difflib
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

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


def _squash(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header).lower()


class CsvPackageError(ValueError):
    """The package itself is unusable (no manifest, unknown mode): nothing can be read from it."""


class CsvPackage:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            self._names = {p.name.lower(): p.name for p in self.path.iterdir() if p.is_file()}
            self._zip = None
        elif zipfile.is_zipfile(self.path):
            self._zip = zipfile.ZipFile(self.path)
            # files may sit in a top folder inside the zip; match on the file name
            self._names = {Path(n).name.lower(): n for n in self._zip.namelist() if not n.endswith("/")}
        else:
            raise CsvPackageError(f"{self.path}: not a folder or a zip file")
        if "manifest.csv" not in self._names:
            raise CsvPackageError(f"{self.path}: no manifest.csv")
        self.manifest = {row["propertyName"].strip(): (row.get("value") or "").strip() for row in self.rows("manifest")}
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
        """Rows keyed by the spec's header names; misspelt or mis-cased headers are read as the header they mean."""
        with self._open(f"{file}.csv") as text:
            reader = csv.reader(text)
            header = next(reader, [])
            names = self._resolve_headers(file, header)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield dict(zip(names, (cell.strip() for cell in row)))

    def _open(self, name: str) -> io.TextIOWrapper:
        real = self._names[name.lower()]
        # utf-8-sig drops a byte-order mark; newline="" lets csv handle CRLF and quoted newlines
        if self._zip is None:
            return open(self.path / real, encoding="utf-8-sig", newline="")
        return io.TextIOWrapper(self._zip.open(real), encoding="utf-8-sig", newline="")

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
