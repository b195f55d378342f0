"""Between steps only handles travel: the newest successful output of each step, per integration, as JSON."""

import json

import dagster as dg

from sis_pipeline.datasets import RawRosters, RosterDatasets, StagedRun
from sis_pipeline.defs.resources import StagingResource, write_atomically

HANDLE_TYPES: dict[str, type[StagedRun]] = {"RawRosters": RawRosters, "RosterDatasets": RosterDatasets}


class StagedDatasetIOManager(dg.ConfigurableIOManager):
    """Stores a step's handle where the next step, in this run or a later one, finds it.

    Keyed by step and integration, not by run: a step re-run alone reads the newest successful output
    of the step before it, and a failed step leaves the previous good handle in place.
    """

    staging: dg.ResourceDependency[StagingResource]

    def handle_output(self, context: dg.OutputContext, obj: StagedRun) -> None:
        path = self.staging.handle_path(context.asset_partition_key, context.asset_key.to_python_identifier())
        write_atomically(path, json.dumps({"type": type(obj).__name__, **obj.model_dump(mode="json")}, indent=1))
        context.add_output_metadata({"staged_by_run": obj.run_id})

    def load_input(self, context: dg.InputContext) -> StagedRun:
        integration = context.asset_partition_key
        step = context.asset_key.to_python_identifier()
        path = self.staging.handle_path(integration, step)
        if not path.exists():
            raise FileNotFoundError(
                f"{integration}: nothing staged by {step} yet; materialize {context.asset_key.to_user_string()} "
                "for this integration first"
            )
        document = json.loads(path.read_text())
        return HANDLE_TYPES[document.pop("type")].model_validate(document)

