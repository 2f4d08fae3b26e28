"""BoundedShutdownWorker's give-up path, made deterministic: a shutdown that never finishes (what
Faust's stop does while its broker is gone) ends the process with exit 1 at the deadline and a
log line that says why. The real-broker test (tests/integration/test_streaming.py) cannot force
the hang: Faust's stop sometimes needs nothing from Kafka and ends cleanly first."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

HANGING_SHUTDOWN = textwrap.dedent("""
    import signal, time, faust
    from streams.runtime import faust_internals

    # Faust's own scheduling of the stop is replaced by nothing: the stop never finishes.
    faust.Worker._schedule_shutdown = lambda self, signum: None
    app = faust.App("shutdown-deadline-test", broker="kafka://127.0.0.1:1")
    worker = faust_internals.BoundedShutdownWorker(app, shutdown_deadline_s=1.5, console_port=None)
    worker._schedule_shutdown(signal.SIGTERM)
    print("scheduled", flush=True)
    time.sleep(60)
""")


def test_a_shutdown_that_never_finishes_exits_1_at_the_deadline_saying_why():
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", HANGING_SHUTDOWN], capture_output=True, text=True, timeout=50)
    took = time.monotonic() - started
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "scheduled" in proc.stdout
    assert "shutdown after SIGTERM did not finish in 2 s (is Kafka reachable?): exiting now" in proc.stderr, proc.stderr
    assert 1.5 < took < 45, took
