"""The `cshealth` command as a user runs it: a fresh interpreter, output captured."""
from __future__ import annotations

import subprocess
import sys


def run_cli(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout_s)
