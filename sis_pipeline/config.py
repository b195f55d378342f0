"""`integrations.yaml`: which SIS to sync and how, validated once before any work starts."""

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_CONFIG_PATH = "integrations.yaml"
CONFIG_ENV = "SIS_PIPELINE_CONFIG"
DEFAULT_SCHEDULE = "0 2 * * *"  # 02:00 in the integration's time zone, before staff arrive
_CRON_FIELD = re.compile(r"^[0-9*,/\-]+$")
ConflictStrategy = Literal["sis_wins", "local_wins", "newest_wins", "manual"]


class ConfigError(ValueError):
    """A configuration problem, naming the file, the integration and the field."""


class SafetyLimits(BaseModel):
    """How much of an entity's active rows one load may archive or change before it is held for a person.

    Fractions of the entity's active rows before the load; 1 switches that check off. Defaults follow
    Clever's hold thresholds (10% deleted, 75% updated).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_archive_fraction: float = Field(default=0.10, ge=0, le=1)
    max_change_fraction: float = Field(default=0.75, ge=0, le=1)


class QualityThresholds(BaseModel):
    """When the warning checks of an integration's warehouse tables fail (sis_pipeline/quality/)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # active rows of a table against what the previous successful full sync loaded, as a fraction
    max_row_count_drift: float = Field(default=0.2, ge=0)
    # share of active students without a state id, a birth date or a grade
    max_null_fraction: float = Field(default=0.05, ge=0, le=1)
    freshness_hours: float = Field(default=36, gt=0)  # a nightly sync may miss one night


class IntegrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    provider: str
    base_url: str | None = None
    token_url: str | None = None
    client_id_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    client_secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    page_size: int = Field(default=1000, ge=1, le=50_000)
    requests_per_minute: int | None = Field(default=None, ge=1)
    max_concurrency: int | None = Field(default=None, ge=1, le=64)
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)  # per request: a page slower than this is retried
    max_retry_after_seconds: float = Field(default=120.0, ge=0, le=3600)  # cap on a SIS's requested wait
    timezone: str = "UTC"
    conflict_strategy: ConflictStrategy = "sis_wins"
    safety: SafetyLimits = Field(default_factory=SafetyLimits)  # when a load is held instead of applied
    quality: QualityThresholds = Field(default_factory=QualityThresholds)  # when a warning check fails
    # the nightly full sync: a cron line read in `timezone`; null switches it off
    schedule: str | None = DEFAULT_SCHEDULE
    # how often the change sensor asks the SIS whether anything changed; null switches it off
    poll_interval_seconds: int | None = Field(default=300, ge=5, le=86_400)
    # an incremental run reads from this long before the watermark: records committed late with an earlier stamp
    lookback_seconds: int = Field(default=300, ge=0, le=7 * 86_400)
    # a full sync of a delivery byte-identical to the last one is recorded without normalising or loading
    # (warehouse/unchanged.py) while the last full comparison with the SIS is at most this old; null: never
    unchanged_delivery_days: float | None = Field(default=7, ge=0, le=366)
    # whose row a child's golden record (student_profiles) takes when several integrations list the child: lower wins
    priority: int = Field(default=100, ge=0, le=999)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("base_url", "token_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An http(s) URL without credentials; the message never repeats the value, which may hold a password."""
        if value is None:
            return value
        parsed = urlparse(value)
        if "@" in parsed.netloc:
            raise ValueError(
                "must not carry credentials (user:password@host): name the environment variables that hold "
                "them in client_id_env and client_secret_env (the URL is not repeated here because it holds a secret)"
            )
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            shown = "the value" if "@" in value else repr(value)  # a mangled user:password@ is not echoed either
            raise ValueError(f"{shown} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("schedule")
    @classmethod
    def _cron_shape(cls, value: str | None) -> str | None:
        """Five cron fields (minute hour day month weekday); Dagster checks the ranges when it builds the schedule."""
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(field) for field in fields):
            raise ValueError(f"{value!r} is not a cron line of five fields such as '0 2 * * *' (null switches it off)")
        return " ".join(fields)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as America/Chicago)") from None
        return value

    @field_validator("options")
    @classmethod
    def _extra_fields_shape(cls, options: dict[str, Any]) -> dict[str, Any]:
        """`extra_fields: {students|teachers|sections: {json key: source field path}}` for every provider."""
        extra = options.get("extra_fields")
        if extra is None:
            return options
        entities = ("students", "teachers", "sections")
        if not isinstance(extra, dict) or not set(extra) <= set(entities):
            raise ValueError(f"extra_fields must map some of {', '.join(entities)} to {{json key: source field}}")
        for entity, fields in extra.items():
            if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(p, str) and p for k, p in fields.items()):
                raise ValueError(f"extra_fields.{entity} must map json keys to source field paths (strings)")
        return options

    def credentials(self) -> tuple[str, str]:
        """Client id and secret, read from the environment variables the config names."""
        return os.environ[self.client_id_env], os.environ[self.client_secret_env]


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integrations: list[IntegrationConfig]

    @model_validator(mode="after")
    def _unique_names(self) -> "PipelineConfig":
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.name in seen:
                raise ValueError(f"duplicate integration name {integration.name!r}")
            seen.add(integration.name)
        return self

    @property
    def priorities(self) -> dict[str, int]:
        return {integration.name: integration.priority for integration in self.integrations}

    def integration(self, name: str) -> IntegrationConfig:
        for integration in self.integrations:
            if integration.name == name:
                return integration
        raise ConfigError(f"no integration named {name!r}; configured: {', '.join(self.names) or 'none'}")

    @property
    def names(self) -> list[str]:
        return [integration.name for integration in self.integrations]


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike | None = None, *, env: dict[str, str] | None = None) -> PipelineConfig:
    """Read and fully validate the configuration, including provider options and credentials."""
    source = config_path(path)
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: configuration file not found (set --config or {CONFIG_ENV})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("integrations"), list) or not raw["integrations"]:
        raise ConfigError(f"{source}: expected a top-level 'integrations:' list with at least one integration")
    try:
        config, problem = PipelineConfig.model_validate(raw), None
    except ValidationError as exc:
        problem = _describe(source, raw, exc)
    if problem is not None:  # raised outside the handler: no chained error carries the raw input (a URL's password)
        raise ConfigError(problem)
    for integration in config.integrations:
        _check_integration(source, integration, env)
    return config


def _check_integration(source: Path, integration: IntegrationConfig, env) -> None:
    from sis_pipeline.providers.common.registry import provider_class

    where = f"{source}: integration {integration.name!r}"
    try:
        provider = provider_class(integration.provider)
    except KeyError as exc:
        raise ConfigError(f"{where}, field 'provider': {exc.args[0]}") from None
    for field in getattr(provider, "required_fields", ()):
        if getattr(integration, field) is None:
            raise ConfigError(f"{where}, field {field!r}: required for provider {integration.provider}")
    for field in ("client_id_env", "client_secret_env"):
        variable = getattr(integration, field)
        if variable is not None and not env.get(variable):
            raise ConfigError(f"{where}, field {field!r}: environment variable {variable} is not set")
    try:
        provider.check_config(integration)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ConfigError(f"{where}, field {field!r}: {message}") from None


def _describe(source: Path, raw: dict, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = list(error["loc"])
        if location[:1] == ["integrations"] and len(location) > 1 and isinstance(location[1], int):
            entry = raw["integrations"][location[1]]
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"integration {name!r}" if name else f"integration #{location[1] + 1}"
            field = ".".join(str(part) for part in location[2:]) or "(entry)"
            lines.append(f"{source}: {label}, field {field!r}: {_message(error)}")
        else:
            lines.append(f"{source}: {'.'.join(map(str, location)) or '(top level)'}: {_message(error)}")
    return "\n".join(lines)


def _message(error: dict) -> str:
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return re.sub(r"^Value error, ", "", message)
