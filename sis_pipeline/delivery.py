"""Is tonight's delivery, byte for byte, one the warehouse already holds? Page digests and the delivery's digest.

A full sync whose every page is identical to the last full sync's, read by the same pipeline code under
the same configuration, normalises to the same rows and writes nothing; the load only proves it, at
most of a full sync's cost. Extraction therefore records a digest of every page it stages (BLAKE2b of
the bytes written, credential fields already removed) in a `<collection>.pages` file beside the raw
records, and the run's delivery digest covers the pages, each collection's mode, the settings and the
code (see `settings_digest`). The warehouse decides whether a matching digest may stand for a load
(warehouse/unchanged.py); docs/decisions.md, "An unchanged delivery", says when it may not.

Order matters: a digest over the pages in the order they came. A SIS that serves the same records in
another order gets a different digest and is normalised as usual, which is never wrong, only slower.
"""

import hashlib
import inspect
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.staging import open_private

PAGES_SUFFIX = ".pages"
_DIGEST_BYTES = 16
_PACKAGE = Path(__file__).resolve().parent


def page_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=_DIGEST_BYTES).hexdigest()


def pages_path(raw_path: Path) -> Path:
    """Where the page digests of a collection's raw file are kept: `students.ndjson` -> `students.pages`."""
    return raw_path.with_suffix(PAGES_SUFFIX)


def write_page_digests(raw_path: Path, digests: list[str]) -> str:
    """Keep the collection's page digests beside its raw file (0600, as every staged file); the collection's digest."""
    with open_private(pages_path(raw_path)) as out:
        out.write("".join(f"{digest}\n" for digest in digests).encode())
    return collection_digest(digests)


def read_page_digests(raw_dir: Path) -> dict[str, list[str]]:
    """Per collection, the page digests a run's extraction recorded; empty when the run's files are gone."""
    if not raw_dir.is_dir():
        return {}
    return {path.stem: path.read_text().split() for path in sorted(raw_dir.glob(f"*{PAGES_SUFFIX}"))}


def collection_digest(digests: list[str]) -> str:
    return page_digest("\n".join(digests).encode())


def settings_digest(integration: IntegrationConfig, priorities: Mapping[str, int], normalizer) -> str:
    """What, besides the records, decides the rows a delivery loads: the integration's configuration, whose
    golden record wins (every integration's priority), and the code that normalises and loads.

    The code is every module of this package (a new release, a patched rule) and the module of the
    normaliser's class, for a provider that ships as a plugin of its own.
    """
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    digest.update(integration.model_dump_json().encode())
    digest.update(json.dumps(dict(sorted(priorities.items()))).encode())
    digest.update(_package_digest().encode())
    source = _module_file(type(normalizer))
    if source is not None and not source.is_relative_to(_PACKAGE):
        digest.update(source.read_bytes())
    return digest.hexdigest()


def delivery_digest(settings: str, collections: Mapping[str, Mapping]) -> str:
    """The digest of a whole delivery: the settings, and each collection's name, mode and pages."""
    parts = [settings] + [f"{name} {handle['mode']} {handle['pages_digest']}" for name, handle in sorted(collections.items())]
    return page_digest("\n".join(parts).encode())


@cache
def _package_digest() -> str:
    """Every Python module of the installed package, by path and content (read once per process, about 1 MB)."""
    digest = hashlib.blake2b(digest_size=_DIGEST_BYTES)
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _module_file(cls: type) -> Path | None:
    try:
        return Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None
