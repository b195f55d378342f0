"""SIGTERM and SIGINT become an exception in the main thread, so a stopped sync unwinds like a failed one.

Unwinding is what rolls back the open load transaction and closes the run as failed (`interrupted`);
the default SIGTERM ends the process where it stands and leaves `sync_runs` at `running`. While a
Dagster step runs, Dagster's own handler takes over the same signals and raises its
`DagsterExecutionInterruptedError` inside the step, which `defs/steps.py` records the same way.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from sis_pipeline.errors import RunInterrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `RunInterrupted` (a KeyboardInterrupt) in the main thread."""

    def _interrupt(signum, _frame):
        raise RunInterrupted(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
