"""`sis-simulate qmlativ` options: one per runtime setting, generated from QmlativSettings.

Credentials are not among them: the shared --client-id/--client-secret options (or the
environment) carry those, so a secret never has to appear on a command line.
"""

from argparse import ArgumentParser, Namespace
from dataclasses import fields

from sis_simulators.qmlativ.settings import QmlativSettings, runtime_setting_names

# Printed at startup, like the other simulators' service roots.
ROOTS = {"qmlativ_generic": "/Generic/1"}


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_settings_options(parser: ArgumentParser) -> None:
    defaults = QmlativSettings()
    runtime = runtime_setting_names()
    for setting in fields(QmlativSettings):
        if setting.name in runtime:
            default = getattr(defaults, setting.name)
            parser.add_argument(_option(setting.name), type=type(default), default=default, help=f"default {default}")


def settings_from_options(args: Namespace, client_id: str, client_secret: str) -> QmlativSettings:
    runtime = {name: getattr(args, name) for name in runtime_setting_names()}
    return QmlativSettings(client_id=client_id, client_secret=client_secret, **runtime)


def settings_options(settings: QmlativSettings) -> list[str]:
    """The options that start a simulator process with these settings (credentials travel separately)."""
    return [part for name in runtime_setting_names() for part in (_option(name), str(getattr(settings, name)))]
