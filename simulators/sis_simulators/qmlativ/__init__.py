"""A Skyward Qmlativ Generic API simulator over the same synthetic district as the OneRoster one."""

from sis_simulators.qmlativ.app import QmlativState, create_qmlativ_app
from sis_simulators.qmlativ.roster import QmlativRoster
from sis_simulators.qmlativ.settings import QmlativSettings

__all__ = ["QmlativRoster", "QmlativSettings", "QmlativState", "create_qmlativ_app"]
