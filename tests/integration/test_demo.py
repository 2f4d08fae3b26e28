"""The README's main command, as a new user runs it: alerts flow within 3 minutes, Ctrl-C stops all."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from streams.devstack.processes import stop_process
from streams.kafka import local_broker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kafka


def test_main_command_shows_alerts_within_three_minutes_and_stops_cleanly(tmp_path):
    demo_dir = tmp_path / "demo"
    env = dict(os.environ, CSHEALTH_DEMO_DIR=str(demo_dir), PYTHONUNBUFFERED="1")
    started = time.monotonic()
    proc = subprocess.Popen(["bash", "streams/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, text=True)
    seen: list[str] = []
    first_alert_s = None
    try:
        for line in proc.stdout:
            seen.append(line)
            if "FIRING" in line:
                first_alert_s = time.monotonic() - started
                break
            if time.monotonic() - started > 180:
                break
        assert first_alert_s is not None, "no alert within 3 minutes:\n" + "".join(seen[-40:])
        assert any("worker view" in line for line in seen) and any("metrics" in line for line in seen)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends
        rest, _ = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, rest[-2000:]
    assert "stopped." in rest
    assert local_broker.status(demo_dir / "kafka") is None
    leftovers = subprocess.run(["pgrep", "-f", str(demo_dir)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes still running: {leftovers}"
    print(f"first alert after {first_alert_s:.0f}s")
