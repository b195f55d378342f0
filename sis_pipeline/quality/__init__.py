"""Data-quality checks of an integration's warehouse tables: set-based SQL, Dagster-free.

`checks.run_checks` runs them and returns `CheckOutcome`s; `defs/checks.py` makes them Dagster asset
checks and records every outcome in `check_results`.
"""
