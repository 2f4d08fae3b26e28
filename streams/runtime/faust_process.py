"""Running a Faust app as this process: Faust's worker, with a deadline on its shutdown.

Faust's stop waits on Kafka (last commit, producer flush, leaving the group); with the broker
already gone it waits for ever, and SIGTERM never ends the process (an orchestrator then
kills it anyway, later). Exiting without the last commit loses nothing: every state written
is in the local store, and events after the last committed offset are read again and
recognised by their offsets (CustomerState.applied_offsets).
"""
from __future__ import annotations

import logging
import os
import signal
import threading

import faust

from streams.settings import Settings

log = logging.getLogger(__name__)


class BoundedShutdownWorker(faust.Worker):
    def __init__(self, app: faust.App, *, shutdown_deadline_s: float, **options) -> None:
        super().__init__(app, **options)
        self.shutdown_deadline_s = shutdown_deadline_s

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if not self._signal_stop_time:  # the first signal starts the clock
            timer = threading.Timer(self.shutdown_deadline_s, self._give_up, args=(signum,))
            timer.daemon = True
            timer.start()
        super()._schedule_shutdown(signum)

    def _give_up(self, signum: signal.Signals) -> None:
        log.error("shutdown after %s did not finish in %.0f s (is Kafka reachable?): exiting now",
                  signum.name, self.shutdown_deadline_s)
        logging.shutdown()
        os._exit(1)


def run_worker(app: faust.App, settings: Settings) -> None:
    BoundedShutdownWorker(app, shutdown_deadline_s=settings.shutdown_deadline_s, console_port=None,
                          loglevel=logging.getLevelName(settings.log_level.upper())).execute_from_commandline()
