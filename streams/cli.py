"""The `cshealth` command line."""
from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path

import click

from streams import local_kafka
from streams.settings import SettingsError, load_settings

# Errors a user can fix from the message alone: one line, no traceback.
USER_ERRORS = (SettingsError, local_kafka.LocalKafkaError, ConnectionError, FileNotFoundError)


def friendly_errors(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except USER_ERRORS as exc:
            click.echo(f"cshealth: error: {exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group()
def main() -> None:
    """cshealth: real-time customer-success health monitoring on Kafka."""


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) from Maven Central jars; no Docker needed."""


data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), default=local_kafka.DEFAULT_DATA_DIR, show_default=True,
    help="Broker state; a fresh directory gives an empty cluster.")


@kafka.command("start")
@data_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Broker port (default 9092 or a free one).")
@friendly_errors
def kafka_start(data_dir: Path, port: int | None) -> None:
    """Start the broker in the background and print its bootstrap address."""
    info = local_kafka.start(data_dir, port)
    click.echo(info.bootstrap)


@kafka.command("stop")
@data_dir_option
@friendly_errors
def kafka_stop(data_dir: Path) -> None:
    """Stop the broker started on DATA_DIR."""
    click.echo("stopped" if local_kafka.stop(data_dir) else "not running")


@kafka.command("jars")
@friendly_errors
def kafka_jars() -> None:
    """Resolve the broker jars from Maven Central into the cache (once) and print the directory."""
    click.echo(local_kafka.ensure_jars())


@kafka.command("status")
@data_dir_option
def kafka_status(data_dir: Path) -> None:
    """Print the bootstrap address of the running broker, or exit 1."""
    info = local_kafka.status(data_dir)
    if info is None:
        click.echo("not running")
        sys.exit(1)
    click.echo(info.bootstrap)


@main.command("topics")
@friendly_errors
def topics() -> None:
    """Create the input and output topics (CSHEALTH_PARTITIONS partitions each) if missing."""
    from streams.topics import ensure_topics

    created = asyncio.run(ensure_topics(load_settings()))
    click.echo(f"created: {', '.join(created)}" if created else "all topics exist")
if __name__ == "__main__":
    main()
