"""Local Prometheus and Alertmanager from Debian's packages, with the repository's configs.

The configs in prometheus/ are written for docker compose (targets `worker:6066`,
`alertmanager:9093`); here they are rendered with local addresses (streams.devstack.render_config).
"""
from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from streams.devstack.render_config import render_alertmanager_config, render_prometheus_config



def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def wait_http(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer in {timeout_s:.0f}s")


def start_prometheus(work_dir: Path, port: int, targets: list[str], alertmanager: str | None,
                     scrape_interval: str | None = None, log=subprocess.DEVNULL) -> subprocess.Popen:
    config = render_prometheus_config(work_dir / "config", targets, [alertmanager] if alertmanager else [],
                                      scrape_interval=scrape_interval, evaluation_interval=scrape_interval,
                                      rule_interval=scrape_interval)
    proc = subprocess.Popen([prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return proc


def start_alertmanager(work_dir: Path, port: int, webhook_base: str | None = None, log=subprocess.DEVNULL,
                       group_wait: str | None = None, group_interval: str | None = None) -> subprocess.Popen:
    base = (webhook_base or "http://127.0.0.1:9095").rstrip("/")
    config = render_alertmanager_config(work_dir / "config" / "alertmanager.yml", f"{base}/oncall", f"{base}/team",
                                        group_wait=group_wait, group_interval=group_interval)
    proc = subprocess.Popen([alertmanager_binary(), f"--config.file={config}", f"--storage.path={work_dir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return proc
