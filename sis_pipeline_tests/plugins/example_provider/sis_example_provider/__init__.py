"""A provider for a fictional SIS that drops one JSON array of records per collection.

It lives in its own package and registers in the `sis_pipeline.providers` entry-point group: an
integration uses it by writing `provider: example_json_drop`, with no change to sis_pipeline. Its
shape is a built-in provider's: a client that pages the SIS (client.py), a normaliser that turns
those pages into canonical frames (normalize.py), and the provider class that names both.
"""

from sis_example_provider.client import JsonDropReader
from sis_example_provider.normalize import JsonDropNormalizer


class JsonDropProvider(JsonDropReader):
    kind = "example_json_drop"
    normalizer = JsonDropNormalizer()
