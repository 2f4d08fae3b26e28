"""The `cshealth` command line."""
from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path

import click

from streams.kafka import local_broker
from streams.settings import Settings, SettingsError, load_settings

# Errors a user can fix from the message alone: one line, no traceback.
USER_ERRORS = (SettingsError, local_broker.LocalKafkaError, ConnectionError, FileNotFoundError)


def friendly_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            click.echo(f"cshealth: error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def kafka_settings() -> Settings:
    """The settings of a command that talks to Kafka, checked against the broker first: a refused
    connection (wrong password, untrusted CA, protocol mismatch) ends the command with one line
    instead of the clients' retries and their log lines."""
    from streams.kafka.access import check

    settings = load_settings()
    check(settings)
    return settings


@click.group()
def main() -> None:
    """cshealth: real-time customer-success health monitoring on Kafka."""


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) from Maven Central jars; no Docker needed."""


data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), default=local_broker.DEFAULT_DATA_DIR, show_default=True,
    help="Broker state; a fresh directory gives an empty cluster.")


@kafka.command("start")
@data_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Broker port (default 9092 or a free one).")
@click.option("--secure", is_flag=True,
              help="SASL_SSL (SCRAM-SHA-512) only, with a local CA; prints the env file a client sources.")
@friendly_errors
def kafka_start(data_dir: Path, port: int | None, secure: bool) -> None:
    """Start the broker in the background and print its bootstrap address."""
    info = local_broker.start(data_dir, port, secure=secure)
    click.echo(info.bootstrap)
    if info.env_file:
        click.echo(f"client settings: source {info.env_file}")


@kafka.command("stop")
@data_dir_option
@friendly_errors
def kafka_stop(data_dir: Path) -> None:
    """Stop the broker started on DATA_DIR."""
    click.echo("stopped" if local_broker.stop(data_dir) else "not running")


@kafka.command("jars")
@friendly_errors
def kafka_jars() -> None:
    """Resolve the broker jars from Maven Central into the cache (once) and print the directory."""
    click.echo(local_broker.ensure_jars())


@kafka.command("status")
@data_dir_option
def kafka_status(data_dir: Path) -> None:
    """Print the bootstrap address of the running broker, or exit 1."""
    info = local_broker.status(data_dir)
    if info is None:
        click.echo("not running")
        sys.exit(1)
    click.echo(info.bootstrap)
    if info.env_file:
        click.echo(f"client settings: source {info.env_file}")


@main.command("topics")
@friendly_errors
def topics() -> None:
    """Create the input and output topics (CSHEALTH_PARTITIONS partitions each) if missing."""
    from streams.runtime.topics import ensure_topics

    created = asyncio.run(ensure_topics(kafka_settings()))
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")
@main.command()
@friendly_errors
def worker() -> None:
    """Run a worker (settings from CSHEALTH_* variables); N workers with one app id share the partitions."""
    from streams.runtime.app import HealthWorker, use_delivery_loop
    from streams.runtime.gc_pacing import use_worker_thresholds
    from streams.runtime.topics import ensure_topics

    use_delivery_loop()  # before any loop is created
    use_worker_thresholds()
    settings = kafka_settings()
    asyncio.run(ensure_topics(settings))
    from streams.runtime.faust_internals import run_worker

    run_worker(HealthWorker(settings).app, settings)


def parse_time_ms(value: str | None) -> int | None:
    if value is None:
        return None
    from handlers.timeutil import parse_ts

    return parse_ts(value)


def write_jsonl(path: Path, records: list[dict]) -> None:
    import orjson

    with path.open("wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")


@main.command()
@click.argument("events", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Snapshot: one JSON line per customer.")
@click.option("--alerts", type=click.Path(dir_okay=False, path_type=Path), help="Write the alerts it would raise.")
@click.option("--changes", type=click.Path(dir_okay=False, path_type=Path), help="Write the health changes it would emit.")
@click.option("--as-of", help="Evaluate windows as of this time (ISO-8601 or epoch ms); default: newest event.")
@click.option("--now", help="The clock events may not be ahead of by more than the skew, as the worker's wall "
                            "clock (ISO-8601 or epoch ms); default: this machine's clock.")
@click.option("--max-clock-skew-s", type=float, default=3600.0, show_default=True, envvar="CSHEALTH_MAX_CLOCK_SKEW_S",
              help="Events further ahead of --now are rejected (future_event), as the worker does.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Health config file (default: the packaged one).")
@friendly_errors
def replay(events: Path, out: Path, alerts: Path | None, changes: Path | None, as_of: str | None, now: str | None,
           max_clock_skew_s: float, config_path: Path | None) -> None:
    """Fold a JSONL file of events offline through the same handlers (the oracle, and backfills)."""
    import time

    import orjson

    from handlers.config import load_config
    from handlers.replay import replay as run_replay

    config = load_config(str(config_path) if config_path else None)
    now_ms = parse_time_ms(now) if now is not None else int(time.time() * 1000)
    with events.open("rb") as lines:
        result = run_replay(lines, config, as_of_ms=parse_time_ms(as_of), now_ms=now_ms,
                            max_skew_ms=int(max_clock_skew_s * 1000), with_changes=changes is not None)
    write_jsonl(out, result.snapshots)
    if alerts:
        write_jsonl(alerts, result.alerts)
    if changes:
        write_jsonl(changes, result.changes)
    click.echo(orjson.dumps(result.summary, option=orjson.OPT_INDENT_2).decode())


@main.command()
@click.option("--customers", type=click.IntRange(1), default=200, show_default=True)
@click.option("--days", type=click.IntRange(1), default=90, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--start", help="Simulation start (ISO-8601); default: DAYS days before now.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write events to this JSONL file.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), help="Write the ground truth here.")
@click.option("--kafka", "to_kafka", is_flag=True, help="Produce to the input topics (CSHEALTH_BOOTSTRAP_SERVERS).")
@click.option("--rate", type=float, default=None, help="With --kafka: events per second (default: as fast as possible).")
@friendly_errors
def simulate(customers: int, days: int, seed: int, start: str | None, out: Path | None, truth: Path | None,
             to_kafka: bool, rate: float | None) -> None:
    """Generate realistic customer stories (healthy, champion, sour, quiet churner, ...) with ground truth."""
    import time
    from datetime import datetime, timedelta, timezone

    from streams.sim import SimulationConfig, simulate as build, write_jsonl, write_truth

    if not out and not to_kafka:
        raise click.UsageError("give --out FILE and/or --kafka")
    if start:
        begin = datetime.fromisoformat(start)
    else:
        begin = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    simulation = build(SimulationConfig(customers=customers, days=days, seed=seed, start=begin))
    if truth:
        write_truth(simulation.truth(), truth)
    last_report = [time.monotonic()]

    def progress(done: int) -> None:
        if time.monotonic() - last_report[0] >= 2:
            last_report[0] = time.monotonic()
            click.echo(f"  {done:,} events", err=True)

    if out:
        written = write_jsonl(simulation.events(), out, progress=progress)
        click.echo(f"wrote {written:,} events for {customers:,} customers to {out}", err=True)
    if to_kafka:
        from streams.kafka.producer import produce_events
        from streams.runtime.topics import ensure_topics

        settings = kafka_settings()
        asyncio.run(ensure_topics(settings))
        sent = asyncio.run(produce_events(settings, simulation.events(), rate=rate, progress=progress))
        click.echo(f"produced {sent:,} events to {settings.bootstrap_servers}", err=True)


@main.command("tail")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record instead of new ones.")
@click.option("--alerts-only", is_flag=True, help="Only cs.alerts, not cs.health-changes.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Stop after this many records.")
@friendly_errors
def tail_command(from_beginning: bool, alerts_only: bool, limit: int | None) -> None:
    """Print alerts and health changes live, readable for the on-call rep."""
    from streams.alerting.tail import run_tail

    run_tail(kafka_settings(), click.echo, from_beginning=from_beginning, include_changes=not alerts_only, limit=limit)


@main.command("webhook-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=9095, show_default=True)
def webhook_sink(host: str, port: int) -> None:
    """Print what Alertmanager's webhooks (/oncall, /team) receive: a stand-in pager for demos."""
    from streams.alerting.webhook_sink import serve

    serve(host, port, lambda line: click.echo(line))


@main.command()
@click.option("--customers", type=click.IntRange(1), default=300, show_default=True)
@click.option("--days", type=click.IntRange(1), default=180, show_default=True)
@click.option("--rate", type=float, default=200.0, show_default=True, help="Events per second.")
@click.option("--web-port", type=click.IntRange(1, 65535), default=6066, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@friendly_errors
def demo(customers: int, days: int, rate: float, web_port: int, seed: int) -> None:
    """Run local Kafka, a worker, the simulator (and Prometheus/Alertmanager if installed); Ctrl-C stops all."""
    from streams.devstack.demo import run_demo

    run_demo(customers, days, rate, web_port, seed)


def _register_optional_commands() -> None:
    from streams.bench.run import bench_command
    from streams.validation.cli import validate_command

    main.add_command(bench_command, "bench")
    main.add_command(validate_command, "validate")


_register_optional_commands()

if __name__ == "__main__":
    main()
