"""PowerSchool: the client pages the plugin REST API, the normaliser reads its records."""

from sis_pipeline.providers.powerschool.client import PowerSchoolApi
from sis_pipeline.providers.powerschool.normalize import PowerSchoolNormalizer


class PowerSchoolProvider(PowerSchoolApi):
    kind = "powerschool"
    normalizer = PowerSchoolNormalizer()
