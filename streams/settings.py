"""Worker settings, read from CSHEALTH_-prefixed environment variables.

The README's configuration table documents each field; keep them in step.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.runtime.watermark import IDLE_S

INPUT_KINDS = ("purchase", "survey", "ticket", "mention", "interaction", "account")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSHEALTH_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    app_id: str = Field("cshealth", description="Consumer group / Faust app id; workers with the same id share partitions")
    web_host: str = Field("127.0.0.1", description="Interface for the HTTP views and /metrics")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the HTTP views and /metrics")
    state_dir: Path = Field(Path(".cshealth/state"), description="Local table store (RocksDB) directory")
    store: str = Field("rocksdb://", description="Table store: rocksdb:// or memory://")
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of every input, table and output topic")
    replication_factor: int = Field(1, ge=1, description="Replication factor of topics the worker creates")
    health_config: Path | None = Field(None, description="Health score config file (default: the packaged one)")
    alertmanager_url: str | None = Field(None, description="Alertmanager base URL, e.g. http://127.0.0.1:9093; unset = no paging")
    log_level: str = Field("info", description="Worker log level: debug, info, warning, error")
    commit_interval_s: float = Field(1.0, gt=0, description="Offset commit / table flush interval")
    session_timeout_s: float = Field(10.0, ge=6, le=1800,
                                     description="A worker silent this long loses its partitions (failover time after a crash)")
    state_cache_customers: int = Field(10_000, ge=0,
                                       description="Customers whose state the worker keeps decoded in memory (0 = none)")
    backlog_defer_s: float = Field(10.0, ge=0, le=600,
                                   description="Catching up a backlog, how long a customer's evaluation may wait for its further events (0 = never)")
    watermark_idle_s: float = Field(IDLE_S, gt=0, le=3600,
                                    description="An input partition with nothing unread that stays quiet this long stops holding back event time (longer than your producers' pauses)")
    shutdown_deadline_s: float = Field(20.0, gt=0,
                                       description="After SIGTERM/SIGINT, the worker exits (code 1) if stopping takes longer, e.g. with Kafka gone")
    max_clock_skew_s: float = Field(3600.0, gt=0,
                                    description="An event this far ahead of the worker's wall clock is dead-lettered (future_event); event time never passes wall clock + this")
    # Topic names: one per input kind plus the outputs.
    topic_purchases: str = "cs.purchases"
    topic_surveys: str = "cs.surveys"
    topic_tickets: str = "cs.tickets"
    topic_mentions: str = "cs.mentions"
    topic_interactions: str = "cs.interactions"
    topic_accounts: str = "cs.accounts"
    topic_health: str = "cs.health"
    topic_health_changes: str = "cs.health-changes"
    topic_alerts: str = "cs.alerts"
    topic_dlq: str = "cs.dlq"
    # Kafka security passthrough (aiokafka names).
    security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_port_pairs(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @field_validator("security_protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        allowed = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
        if value.upper() not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value.upper()

    @cached_property
    def input_topics(self) -> dict[str, str]:
        """Topic name -> event kind."""
        return {
            self.topic_purchases: "purchase",
            self.topic_surveys: "survey",
            self.topic_tickets: "ticket",
            self.topic_mentions: "mention",
            self.topic_interactions: "interaction",
            self.topic_accounts: "account",
        }

    def kafka_client_options(self) -> dict:
        """aiokafka keyword arguments shared by producers, consumers and the admin client."""
        options: dict = {"bootstrap_servers": self.bootstrap_servers, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password,
            }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        return options


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value raises SettingsError with one readable line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CSHEALTH_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(problems) from None


class SettingsError(ValueError):
    """A setting has a value the worker cannot use."""
