"""`cshealth demo`: the whole pipeline on this machine, watchable, stopped cleanly by Ctrl-C."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from streams.devstack import local_monitoring
from streams.devstack.processes import stop_process
from streams.kafka import local_broker

SECURITY_VARIABLES = ("CSHEALTH_SECURITY_PROTOCOL", "CSHEALTH_SASL_", "CSHEALTH_SSL_")
DEMO_DIR = Path(os.environ.get("CSHEALTH_DEMO_DIR", local_broker.CACHE_HOME / "demo"))


def _spawn(args: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def run_demo(customers: int, days: int, rate: float, web_port: int, seed: int) -> None:
    # Ctrl-C stops everything, even when started from a context that ignores SIGINT (a shell's
    # background job does; Python then never raises KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if DEMO_DIR.exists():
        local_broker.stop(DEMO_DIR / "kafka")
        shutil.rmtree(DEMO_DIR)  # a fresh cluster each run: same seed, same event ids, nothing dropped
    DEMO_DIR.mkdir(parents=True)
    logs = DEMO_DIR / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        click.echo("starting local Kafka ...")
        broker = local_broker.start(DEMO_DIR / "kafka")
        web_port = local_broker.free_port(web_port)
        # The demo's own broker has the plain listener: security settings sourced for another
        # (secure) broker would have every client refused.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(SECURITY_VARIABLES)}
        env = dict(inherited, CSHEALTH_BOOTSTRAP_SERVERS=broker.bootstrap, CSHEALTH_WEB_PORT=str(web_port),
                   CSHEALTH_STATE_DIR=str(DEMO_DIR / "state"), CSHEALTH_LOG_LEVEL="warning")
        links = [f"worker view    http://127.0.0.1:{web_port}/customers/<customer_id>  (e.g. c000001)",
                 f"metrics        http://127.0.0.1:{web_port}/metrics"]
        cli = [sys.executable, "-m", "streams.cli"]
        alertmanager = None
        if local_monitoring.alertmanager_binary():
            sink_port = local_broker.free_port(9095)
            procs.append(_spawn(cli + ["webhook-sink", "--port", str(sink_port)], env, logs / "pager.log"))
            am_port = local_broker.free_port(9093)
            alertmanager = f"127.0.0.1:{am_port}"
            procs.append(local_monitoring.start_alertmanager(DEMO_DIR / "alertmanager", am_port,
                                                       webhook_base=f"http://127.0.0.1:{sink_port}",
                                                       log=open(logs / "alertmanager.log", "ab")))
            env["CSHEALTH_ALERTMANAGER_URL"] = f"http://{alertmanager}"
            links.append(f"Alertmanager   http://{alertmanager}   (pages: {logs / 'pager.log'})")
        if local_monitoring.prometheus_binary():
            prom_port = local_broker.free_port(9090)
            procs.append(local_monitoring.start_prometheus(
                DEMO_DIR / "prometheus", prom_port, [f"127.0.0.1:{web_port}"], alertmanager, scrape_interval="5s",
                log=open(logs / "prometheus.log", "ab")))
            links.append(f"Prometheus     http://127.0.0.1:{prom_port}  (try cshealth:company_nps:ratio_1h)")
        click.echo("starting the worker ...")
        worker = _spawn(cli + ["worker"], env, logs / "worker.log")
        procs.append(worker)
        local_monitoring.wait_http(f"http://127.0.0.1:{web_port}/readyz", timeout_s=120)
        click.echo(f"starting the simulator: {customers} customers, {days} days of events at {rate:g} events/s ...")
        procs.append(_spawn(cli + ["simulate", "--kafka", "--customers", str(customers), "--days", str(days),
                                   "--seed", str(seed), "--rate", str(rate),
                                   "--truth", str(DEMO_DIR / "truth.jsonl")], env, logs / "simulator.log"))
        click.echo("\n".join(["", "cshealth is running:", *("  " + line for line in links),
                              f"  logs           {logs}", f"  ground truth   {DEMO_DIR / 'truth.jsonl'}",
                              "", "alerts and health changes follow (Ctrl-C stops everything):", ""]))
        tail = _spawn(cli + ["tail", "--from-beginning"], env, logs / "tail.log")
        procs.append(tail)
        with open(logs / "tail.log", "rb") as follow:
            while worker.poll() is None:
                line = follow.readline()
                if line:
                    sys.stdout.write(line.decode(errors="replace"))
                    sys.stdout.flush()
                else:
                    time.sleep(0.2)
        click.echo(f"the worker stopped (exit {worker.returncode}); see {logs / 'worker.log'}", err=True)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        local_broker.stop(DEMO_DIR / "kafka")
        click.echo("stopped.")
