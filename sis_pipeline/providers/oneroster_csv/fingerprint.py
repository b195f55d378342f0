"""What identifies a dropped OneRoster CSV package, cheaply: the change sensor's token for a CSV integration.

A drop has no "modified since" to ask; a new or replaced package is the change. The fingerprint reads
no row (a package can hold gigabytes): a folder is its files' names, sizes and modification times; a
zip is its own size and time plus each entry's name, size and CRC-32 from the central directory, so a
zip re-sent with other content is told apart even when its size and time are kept.
"""

import hashlib
import zipfile
from pathlib import Path

FINGERPRINT_CHARS = 16


def package_fingerprint(path: Path) -> tuple[str, int, int] | None:
    """(fingerprint, files, bytes) of the package at `path`; None when there is none (no manifest.csv)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not any(p.name.lower() == "manifest.csv" for p in files):
            return None
        parts = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        return _digest(parts), len(parts), sum(size for _, size, _ in parts)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        entries = sorted((info.filename, info.file_size, info.CRC) for info in archive.infolist() if not info.is_dir())
    if not any(Path(name).name.lower() == "manifest.csv" for name, _, _ in entries):
        return None
    stat = path.stat()
    return _digest([(path.name, stat.st_size, stat.st_mtime_ns), *entries]), len(entries), sum(size for _, size, _ in entries)


def _digest(parts: list[tuple]) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:FINGERPRINT_CHARS]
