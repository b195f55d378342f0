"""The morning report: what a run fetched, loaded and refused, and how the last runs compare.

`data` assembles the numbers from the warehouse (Dagster-free); `markdown`, `html` and `svg` only render them.
"""

from sqlalchemy import Engine


def report_markdown(engine: Engine, integration: str, run_id: str) -> str:
    """One run's report as Markdown (ids only, no personal data): what the Dagster UI shows as asset metadata."""
    from sis_pipeline.reporting.data import integration_report
    from sis_pipeline.reporting.markdown import render_markdown

    return render_markdown({"integrations": [integration_report(engine, integration, run_id)]})
