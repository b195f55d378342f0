from sis_pipeline.providers.skyward.client import SkywardProvider
