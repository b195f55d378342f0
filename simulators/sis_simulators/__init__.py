"""Synthetic SIS providers served over real HTTP, for tests, demos and benchmarks."""

from sis_simulators.district import VIEWS, District
from sis_simulators.filters import FilterError, RecordFilter, parse_filter
from sis_simulators.oneroster_app import SimulatorState, create_oneroster_app
from sis_simulators.overlay import InvalidChange, RosterOverlay, UnknownRecord
from sis_simulators.powerschool import PowerSchoolRoster, PowerSchoolSettings, create_powerschool_app
from sis_simulators.server import SimulatorProcess, SimulatorServer, main
from sis_simulators.settings import SimulatorSettings
from sis_simulators.timestamps import BASE_MODIFIED_END, BASE_MODIFIED_START

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
