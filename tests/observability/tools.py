"""Small helpers for running the Prometheus tools from tests."""
from __future__ import annotations

import subprocess


def run(cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a tool; the output goes into the assertion message on failure."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def describe(proc: subprocess.CompletedProcess) -> str:
    return (f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
