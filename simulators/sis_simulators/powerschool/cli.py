"""`sis-simulate powerschool` options: one per runtime setting, generated from PowerSchoolSettings.

Credentials are not among them: the shared --client-id/--client-secret options (or the
environment) carry those, so a secret never has to appear on a command line.
"""

from argparse import ArgumentParser, BooleanOptionalAction, Namespace
from dataclasses import fields

from sis_simulators.powerschool.settings import PowerSchoolSettings, runtime_setting_names


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_settings_options(parser: ArgumentParser) -> None:
    defaults = PowerSchoolSettings()
    runtime = runtime_setting_names()
    for setting in fields(PowerSchoolSettings):
        if setting.name not in runtime:
            continue
        default = getattr(defaults, setting.name)
        if setting.type is bool:
            parser.add_argument(_option(setting.name), action=BooleanOptionalAction, default=default)
        else:
            parser.add_argument(_option(setting.name), type=setting.type, default=default, help=f"default {default}")


def settings_from_options(args: Namespace, client_id: str, client_secret: str) -> PowerSchoolSettings:
    runtime = {name: getattr(args, name) for name in runtime_setting_names()}
    return PowerSchoolSettings(client_id=client_id, client_secret=client_secret, **runtime)


def settings_options(settings: PowerSchoolSettings) -> list[str]:
    """The options that start a simulator process with these settings (credentials travel separately)."""
    options = []
    for name in runtime_setting_names():
        value = getattr(settings, name)
        if isinstance(value, bool):
            options.append(_option(name) if value else f"--no-{name.replace('_', '-')}")
        else:
            options.extend((_option(name), str(value)))
    return options
