"""Infinite Campus's OneRoster service: under the Campus host, with an app-scoped token."""

from urllib.parse import quote

from sis_pipeline.config import IntegrationConfig
from sis_pipeline.providers.oneroster.client import KNOWN_OPTIONS, VERSION_SUFFIXES, Endpoint, OneRosterApi

CAMPUS_OPTIONS = (KNOWN_OPTIONS - {"credentials_in"}) | {"app_name"}


class CampusApi(OneRosterApi):
    required_fields = ("base_url", "client_id_env", "client_secret_env")
    known_options = CAMPUS_OPTIONS
    # Campus guidance: serial at peak, at most 5 concurrent requests off-peak
    default_max_concurrency = 5
    default_requests_per_minute = 100

    @classmethod
    def check_config(cls, integration: IntegrationConfig) -> None:
        if not integration.options.get("app_name"):
            raise ValueError("options.app_name: required: the Campus application name (appName) the district set up")
        super().check_config(integration)

    @classmethod
    def endpoint(cls, integration: IntegrationConfig) -> Endpoint:
        version = str(integration.options.get("version", "1.2"))
        app = quote(str(integration.options["app_name"]), safe="")
        major_minor = "v1p2" if version == "1.2" else "v1p1"
        host = integration.base_url
        return Endpoint(
            version=version,
            service_root=f"{host}/campus/api/oneroster/{major_minor}/{app}{VERSION_SUFFIXES.get(version, '')}",
            token_url=integration.token_url or f"{host}/campus/oauth2/token?appName={app}",
            credentials_in="form",
        )
