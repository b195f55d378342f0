"""Synthetic SIS providers served over real HTTP, for tests, demos and benchmarks."""

from sis_pipeline.simulators.district import VIEWS, District
from sis_pipeline.simulators.filters import FilterError, RecordFilter, parse_filter
from sis_pipeline.simulators.oneroster_app import SimulatorState, create_oneroster_app
from sis_pipeline.simulators.overlay import InvalidChange, RosterOverlay, UnknownRecord
from sis_pipeline.simulators.powerschool import PowerSchoolRoster, PowerSchoolSettings, create_powerschool_app
from sis_pipeline.simulators.server import SimulatorProcess, SimulatorServer, main
from sis_pipeline.simulators.settings import SimulatorSettings
from sis_pipeline.simulators.timestamps import BASE_MODIFIED_END, BASE_MODIFIED_START

__all__ = [
    "BASE_MODIFIED_END",
    "BASE_MODIFIED_START",
    "VIEWS",
    "District",
    "FilterError",
    "InvalidChange",
    "PowerSchoolRoster",
    "PowerSchoolSettings",
    "RecordFilter",
    "RosterOverlay",
    "SimulatorProcess",
    "SimulatorServer",
    "SimulatorSettings",
    "SimulatorState",
    "UnknownRecord",
    "create_oneroster_app",
    "create_powerschool_app",
    "main",
    "parse_filter",
]
