"""A PowerSchool plugin REST API simulator over the same synthetic district as the OneRoster one."""

from sis_simulators.powerschool.app import PowerSchoolState, create_powerschool_app
from sis_simulators.powerschool.roster import PowerSchoolRoster
from sis_simulators.powerschool.settings import PowerSchoolSettings

__all__ = ["PowerSchoolRoster", "PowerSchoolSettings", "PowerSchoolState", "create_powerschool_app"]
