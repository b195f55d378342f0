"""Alembic's script directory for the warehouse: `env.py`, `script.py.mako` and `versions/`.

Run through `sis_pipeline.warehouse.migrate` (no alembic.ini); developers add a revision with
`python -m sis_pipeline.warehouse.migrations revision -m "..."` (see `__main__.py`).
"""
