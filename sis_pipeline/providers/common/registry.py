"""Providers are found through the `sis_pipeline.providers` entry-point group; built-ins register there too."""

from functools import cache
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "sis_pipeline.providers"


@cache
def _registered() -> dict:
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def provider_names() -> list[str]:
    return sorted(_registered())


def provider_class(kind: str):
    """The provider class registered under `kind`; KeyError naming the known kinds otherwise."""
    entry = _registered().get(kind)
    if entry is None:
        raise KeyError(f"unknown provider {kind!r}; installed providers: {', '.join(provider_names()) or 'none'}")
    return entry.load()
