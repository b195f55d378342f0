"""OneRoster 1.1 / 1.2 REST."""

from sis_pipeline.providers.oneroster.client import OneRosterProvider

__all__ = ["OneRosterProvider"]
