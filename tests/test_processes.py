"""stop_process, with which the demo, the local broker, the bench and the tests stop processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

from streams.devstack.processes import stop_process
from tests.support.conditions import eventually

IGNORES_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                   "print('ready', flush=True); time.sleep(60)")
STARTS_A_CHILD = ("import subprocess, time; child = subprocess.Popen(['sleep', '60']); "
                  "print('ready', child.pid, flush=True); time.sleep(60)")


def python(code: str, **popen) -> tuple[subprocess.Popen, list[str]]:
    """A Python process running `code`, once it said it is ready (its signal handling in place)."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, **popen)
    said = proc.stdout.readline().split()
    assert said[:1] == ["ready"], said
    return proc, said[1:]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] == "Z"  # exited, not reaped by its parent yet


def test_sigterm_stops_a_process_and_what_it_started():
    proc, (child,) = python(STARTS_A_CHILD, start_new_session=True)
    assert stop_process(proc, timeout_s=10)
    assert proc.returncode == -signal.SIGTERM
    eventually(lambda: gone(int(child)), 10, interval=0.1, message="the child of the stopped process runs on")


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout():
    proc, _ = python(IGNORES_SIGTERM)
    assert stop_process(proc, timeout_s=0.5)
    assert proc.returncode == -signal.SIGKILL


def test_a_pid_is_stopped_too_and_what_is_not_running_is_left_alone():
    proc, _ = python(IGNORES_SIGTERM, start_new_session=True)
    assert stop_process(proc.pid, timeout_s=0.5)
    assert gone(proc.pid)
    assert not stop_process(proc.pid)
    assert not stop_process(proc)
    assert not stop_process(None)
