"""`python -m sis_pipeline.warehouse.migrations <command>`: Alembic's command line for the warehouse revisions.

Every Alembic command (`revision`, `history`, `heads`, `current`, `upgrade --sql`, ...) with the
package's configuration instead of an alembic.ini. The warehouse is `SIS_WAREHOUSE_URL` (else the
laptop default under ./.data); only commands that talk to a database use it. A new revision without
`--rev-id` gets the next number (0002, 0003, ...), so file names sort in the order they apply:

    python -m sis_pipeline.warehouse.migrations revision -m "add contacts"
    SIS_WAREHOUSE_URL=sqlite:///scratch.sqlite python -m sis_pipeline.warehouse.migrations upgrade head
    SIS_WAREHOUSE_URL=sqlite:///scratch.sqlite python -m sis_pipeline.warehouse.migrations \\
        revision --autogenerate -m "add contacts"

Operators upgrade with `sis-pipeline warehouse upgrade`, which also takes the upgrade lock and
stamps a warehouse from before migrations; plain `upgrade` here does neither.
"""

import logging
import os
import sys

from alembic import command
from alembic.config import CommandLine

from sis_pipeline.warehouse.migrate import alembic_config, revisions

PROG = "python -m sis_pipeline.warehouse.migrations"


def next_revision_id() -> str:
    numbered = [int(revision) for revision in revisions() if revision.isdigit()]
    return f"{max(numbered, default=0) + 1:04d}"


def main(argv: list[str] | None = None) -> int:
    cli = CommandLine(prog=PROG)
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    if options.cmd[0] is command.revision and not options.rev_id:
        options.rev_id = next_revision_id()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s [%(name)s] %(message)s", stream=sys.stderr)
    config = alembic_config(url=os.environ.get("SIS_WAREHOUSE_URL"))
    config.cmd_opts = options
    cli.run_cmd(config, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
