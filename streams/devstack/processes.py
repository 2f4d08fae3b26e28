"""Runs cshealth apps as subprocesses against a real broker: used by the integration tests and `cshealth bench`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from streams.kafka import local_broker
from streams.settings import load_settings

TOPIC_FIELDS = ("purchases", "surveys", "tickets", "mentions", "interactions", "accounts",
                "health", "health_changes", "alerts", "dlq")
WORKER_COMMAND = ("-m", "streams.cli", "worker")


def stack_env(bootstrap: str, prefix: str, partitions: int = 4, **extra) -> dict[str, str]:
    """CSHEALTH_* variables for an isolated app: its own topics and consumer group."""
    env = {f"CSHEALTH_TOPIC_{name.upper()}": f"{prefix}.{name}" for name in TOPIC_FIELDS}
    env |= {"CSHEALTH_BOOTSTRAP_SERVERS": bootstrap, "CSHEALTH_APP_ID": prefix,
            "CSHEALTH_PARTITIONS": str(partitions), "CSHEALTH_LOG_LEVEL": "warning"}
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
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}: {self.tail_log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(poll_s)
        raise AssertionError(f"worker not ready in {timeout_s}s: {self.tail_log()}")

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
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail_log(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]
