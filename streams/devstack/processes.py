"""Runs cshealth apps as subprocesses against a real broker, waits on them and stops them: used by
the integration tests, `cshealth bench`, `cshealth demo` and the local broker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import orjson

from streams.kafka import local_broker
from streams.settings import load_settings

TOPIC_FIELDS = ("purchases", "surveys", "tickets", "mentions", "interactions", "accounts",
                "health", "health_changes", "alerts", "dlq")
WORKER_COMMAND = ("-m", "streams.cli", "worker")
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float, poll_s: float = 0.5,
               ignoring: tuple[type[BaseException], ...] = (),
               describe: Callable[[T | None], str] = lambda last: "") -> T:
    """Call `condition` every poll_s until it returns something true, and return that. After
    timeout_s raise TimeoutError with what `describe` says of the last answer (None when the call
    raised one of `ignoring`, which count as not yet; other exceptions end the wait at once)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        try:
            last = condition()
        except ignoring:
            last = None
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(describe(last) or f"not within {timeout_s:g}s")
        time.sleep(poll_s)


def stop_process(process: subprocess.Popen | int | None, timeout_s: float = 20.0) -> bool:
    """SIGTERM a process, SIGKILL it if it is still running after timeout_s, and wait until it is
    gone. A process that leads its own group (started with start_new_session) is signalled with
    its group, so what it started stops with it. `process` is a Popen of ours or the pid of a
    process started elsewhere (the local broker's, by another `cshealth kafka start`).
    False when it was not running."""
    if process is None or not _running(process):
        return False
    pid = process if isinstance(process, int) else process.pid
    _signal(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not _running(process), timeout_s, poll_s=0.1)
    except TimeoutError:
        _signal(pid, signal.SIGKILL)
        wait_until(lambda: not _running(process), timeout_s, poll_s=0.1)
    return True


def _running(process: subprocess.Popen | int) -> bool:
    if isinstance(process, int):
        return local_broker._alive(process)
    return process.poll() is None


def _signal(pid: int, signum: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass  # gone in the meantime: what the signal was for


def stack_env(bootstrap: str, prefix: str, partitions: int = 4, **extra) -> dict[str, str]:
    """CSHEALTH_* variables for an isolated app: its own topics and consumer group."""
    env = {f"CSHEALTH_TOPIC_{name.upper()}": f"{prefix}.{name}" for name in TOPIC_FIELDS}
    env |= {"CSHEALTH_BOOTSTRAP_SERVERS": bootstrap, "CSHEALTH_APP_ID": prefix,
            "CSHEALTH_PARTITIONS": str(partitions), "CSHEALTH_LOG_LEVEL": os.environ.get("CSHEALTH_TEST_LOG_LEVEL", "warning")}
    env |= {f"CSHEALTH_{k.upper()}": str(v) for k, v in extra.items()}
    return env


def settings_from(env: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


class WorkerProcess:
    """A worker (or another Faust app module, via `command`) with its own web port and state dir."""

    def __init__(self, env: dict[str, str], state_dir: Path, log_path: Path,
                 command: tuple[str, ...] = WORKER_COMMAND) -> None:
        self.port = local_broker.free_port()
        self.env = dict(os.environ) | env | {"CSHEALTH_WEB_PORT": str(self.port), "CSHEALTH_STATE_DIR": str(state_dir)}
        self.log_path = log_path
        self.command = command
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WorkerProcess":
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, *self.command], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 90, poll_s: float = 0.5) -> None:
        def ready() -> bool:
            self.check_running()
            return self.get_raw("/readyz", timeout_s=2)[0] == 200

        try:
            wait_until(ready, timeout_s, poll_s, ignoring=(OSError,))
        except TimeoutError:
            raise AssertionError(f"worker not ready in {timeout_s}s: {self.tail_log()}") from None

    def check_running(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited {self.proc.returncode}: {self.tail_log()}")

    def get_raw(self, path: str, timeout_s: float = 10) -> tuple[int, bytes]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get(self, path: str) -> tuple[int, dict]:
        status, body = self.get_raw(path)
        return status, orjson.loads(body)

    def kill(self) -> None:
        """SIGKILL, no SIGTERM first: a crash, as the recovery tests need it."""
        _signal(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 30) -> None:
        stop_process(self.proc, timeout_s)

    def tail_log(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]
