"""What a simulator operator (or a test) can tune: credentials, token lifetime, paging behaviour, faults."""

from dataclasses import asdict, dataclass, field, fields

from sis_simulators.faults import FaultSettings

PAGING_HEADER_MODES = ("all", "total_only", "link_only", "none")
FLAVOURS = ("oneroster", "infinite_campus")
# Settings a test may change while the server runs; credentials and paths are fixed at start.
RUNTIME_SETTINGS = ("paging_headers", "default_limit", "max_limit", "token_ttl", "faults")


@dataclass
class SimulatorSettings:
    client_id: str = "demo-client"
    client_secret: str = field(default="demo-secret", repr=False)
    token_ttl: int = 3600
    token_path: str | None = None  # None: the flavour's own token path
    paging_headers: str = "all"
    default_limit: int = 100
    max_limit: int = 10_000
    # "oneroster" (plain roots) or "infinite_campus" (Campus URL layout, appName, 1.1 -> 1.2 id change)
    flavour: str = "oneroster"
    app_name: str = "district"
    # served under this path, e.g. "/api" for Skyward SMS 2.0 (`https://{host}/api`)
    path_prefix: str = ""
    # faults API requests meet (none by default); see faults.py
    faults: FaultSettings = field(default_factory=FaultSettings)

    @classmethod
    def infinite_campus(cls, app_name: str = "district", **settings) -> "SimulatorSettings":
        return cls(flavour="infinite_campus", app_name=app_name, **settings)

    def roots(self) -> dict[str, str]:
        """The service root of each OneRoster version this simulator serves."""
        from sis_simulators.generated import ROOTS
        from sis_simulators.infinite_campus import campus_roots

        roots = campus_roots(self.app_name) if self.flavour == "infinite_campus" else ROOTS
        return {version: self.path_prefix + root for version, root in roots.items()}

    def __post_init__(self):
        if self.token_path is None:
            from sis_simulators.infinite_campus import TOKEN_PATH

            self.token_path = self.path_prefix + (TOKEN_PATH if self.flavour == "infinite_campus" else "/oauth/token")
        self.validate()

    def validate(self) -> None:
        if self.paging_headers not in PAGING_HEADER_MODES:
            raise ValueError(f"paging_headers must be one of {PAGING_HEADER_MODES}, got {self.paging_headers!r}")
        for name in ("token_ttl", "default_limit", "max_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.path_prefix and (not self.path_prefix.startswith("/") or self.path_prefix.endswith("/")):
            raise ValueError(f"path_prefix must start with '/' and not end with one, got {self.path_prefix!r}")
        if self.flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {self.flavour!r}")
        if not self.token_path.startswith("/"):
            raise ValueError(f"token_path must start with '/', got {self.token_path!r}")
        if not isinstance(self.faults, FaultSettings):
            raise ValueError(f"faults must be FaultSettings, got {self.faults!r}")

    def apply(self, changes: dict) -> None:
        """Change runtime settings all at once, or none if any value is invalid."""
        unknown = set(changes) - set(RUNTIME_SETTINGS)
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} at runtime; allowed: {list(RUNTIME_SETTINGS)}")
        if "faults" in changes:
            # A partial fault object changes only the faults it names.
            changes = {**changes, "faults": self.faults.changed(changes["faults"])}
        # A shallow copy keeps the same FaultSettings when faults are untouched, so their schedule runs on.
        current = {setting.name: getattr(self, setting.name) for setting in fields(self)}
        candidate = SimulatorSettings(**{**current, **changes})
        for name in RUNTIME_SETTINGS:
            setattr(self, name, getattr(candidate, name))

    def public(self) -> dict:
        """Settings safe to show: everything but the secret."""
        return {key: value for key, value in asdict(self).items() if key != "client_secret"}
