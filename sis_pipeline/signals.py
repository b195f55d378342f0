"""SIGTERM and SIGINT become an exception in the main thread, so a stopped sync unwinds like a failed one.

Unwinding is what rolls back the open load transaction and closes the run as failed (`interrupted`);
the default SIGTERM ends the process where it stands and leaves `sync_runs` at `running`.

The exception is a KeyboardInterrupt on purpose. While a Dagster step runs, Dagster's own handler
raises `DagsterExecutionInterruptedError` instead, and psycopg cancels the statement in flight only
for a KeyboardInterrupt: interrupted in the middle of a COPY by Dagster's error, the connection is
left busy, the rollback fails ("another command is already in progress") and that error hides the
interruption. So each step (`defs/steps.py`) puts this handler back in front for its own duration;
Dagster treats a KeyboardInterrupt in a step as an interruption too.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sis_pipeline.errors import RunInterrupted

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `RunInterrupted` (a KeyboardInterrupt) in the main thread.

    Elsewhere than in the main thread, where signal handlers cannot be set, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum, _frame):
        raise RunInterrupted(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
