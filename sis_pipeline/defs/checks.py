"""Asset checks on the warehouse tables, one result per table, check and integration partition.

The checks themselves are the Dagster-free `sis_pipeline.quality`; here they are declared (one spec per
CATALOGUE entry), run after the tables load in the same run, and every outcome is also recorded in
`check_results`, the history a district reads outside Dagster.
"""

import warnings
from collections.abc import Iterator

import dagster as dg

from sis_pipeline.config import PipelineConfig
from sis_pipeline.defs.resources import WarehouseResource
from sis_pipeline.quality.checks import CATALOGUE, run_checks
from sis_pipeline.warehouse.check_results import record_check_results


def _specs(severity: str, partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    # Partitioned checks are a Dagster preview; without them a check's result in the UI would be
    # whichever integration ran last, not the one of the partition being looked at.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [
            dg.AssetCheckSpec(
                check.name,
                asset=["warehouse", check.entity],
                description=check.description,
                blocking=severity == "ERROR",  # an ERROR failure then stops whatever reads the table after it
                partitions_def=partitions,
            )
            for check in CATALOGUE
            if check.severity == severity
        ]


def _results(
    context: dg.AssetCheckExecutionContext, integrations: PipelineConfig, warehouse: WarehouseResource, severity: str
) -> Iterator[dg.AssetCheckResult]:
    name, run_id = context.partition_key, context.run.run_id
    engine = warehouse.engine()
    outcomes = [
        outcome
        for outcome in run_checks(engine, name, integrations.integration(name).quality, run_id=run_id, severity=severity)
        if dg.AssetCheckKey(dg.AssetKey(["warehouse", outcome.entity]), outcome.check_name) in context.selected_asset_check_keys
    ]
    record_check_results(engine, run_id, name, outcomes)
    for outcome in outcomes:
        yield dg.AssetCheckResult(
            asset_key=["warehouse", outcome.entity],
            check_name=outcome.check_name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity(outcome.severity),
            description=outcome.detail,
            metadata={"observed": outcome.observed, "threshold": outcome.threshold},
        )


def roster_integrity_checks(
    context: dg.AssetCheckExecutionContext, integrations: dg.ResourceParam[PipelineConfig], warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Keys, references and required fields: a failure means the district's roster cannot be trusted as it stands."""
    yield from _results(context, integrations, warehouse, "ERROR")


def roster_quality_warnings(
    context: dg.AssetCheckExecutionContext, integrations: dg.ResourceParam[PipelineConfig], warehouse: WarehouseResource
) -> Iterator[dg.AssetCheckResult]:
    """Size, empty key fields, staleness and rows that make little sense together: worth a look, never blocking."""
    yield from _results(context, integrations, warehouse, "WARN")


def roster_checks(partitions: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    """The checks of the warehouse tables, partitioned like them (the partitions come from the configuration)."""
    return [
        dg.multi_asset_check(name=check.__name__, specs=_specs(severity, partitions), can_subset=True)(check)
        for check, severity in ((roster_integrity_checks, "ERROR"), (roster_quality_warnings, "WARN"))
    ]
