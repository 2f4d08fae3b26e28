"""Local Prometheus and Alertmanager from Debian's packages, with the repository's configs.

The configs in prometheus/ are written for docker compose (targets `worker:6066`,
`alertmanager:9093`); here they are rendered with local addresses.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = REPO / "prometheus"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def render_prometheus_config(out_dir: Path, targets: list[str], alertmanager: str | None,
                             scrape_interval: str | None = None) -> Path:
    """Copy prometheus/ to out_dir with local scrape targets and Alertmanager address."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROMETHEUS_DIR / "rules", out_dir / "rules", dirs_exist_ok=True)
    text = (PROMETHEUS_DIR / "prometheus.yml").read_text()
    text = text.replace('targets: ["worker:6066"]', "targets: [" + ", ".join(f'"{t}"' for t in targets) + "]")
    if alertmanager:
        text = text.replace('targets: ["alertmanager:9093"]', f'targets: ["{alertmanager}"]')
    if scrape_interval:
        text = re.sub(r"(scrape_interval|evaluation_interval): \S+", rf"\1: {scrape_interval}", text)
    path = out_dir / "prometheus.yml"
    path.write_text(text)
    return path


def render_alertmanager_config(out_dir: Path, webhook_base: str | None = None) -> Path:
    """Copy alertmanager.yml, pointing its webhooks at webhook_base (e.g. a test's local server)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = (PROMETHEUS_DIR / "alertmanager.yml").read_text()
    if webhook_base:
        text = re.sub(r"http://127\.0\.0\.1:9095", webhook_base.rstrip("/"), text)
    path = out_dir / "alertmanager.yml"
    path.write_text(text)
    return path


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
    config = render_prometheus_config(work_dir / "config", targets, alertmanager, scrape_interval)
    proc = subprocess.Popen([prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={work_dir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return proc


def start_alertmanager(work_dir: Path, port: int, webhook_base: str | None = None,
                       log=subprocess.DEVNULL) -> subprocess.Popen:
    config = render_alertmanager_config(work_dir / "config", webhook_base)
    proc = subprocess.Popen([alertmanager_binary(), f"--config.file={config}", f"--storage.path={work_dir / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_http(f"http://127.0.0.1:{port}/-/ready")
    return proc
