"""Worker settings, read from CSHEALTH_-prefixed environment variables.

The README's configuration table documents each field; keep them in step.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.runtime.watermark import IDLE_S

INPUT_KINDS = ("purchase", "survey", "ticket", "mention", "interaction", "account")
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
WORKER_STORE_SCHEME = "cshealth-rocksdb"  # Faust's RocksDB store without the write-ahead log
# What aiokafka (and so Faust's driver and the admin client) can do with a user name and password.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSHEALTH_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    app_id: str = Field("cshealth", description="Consumer group / Faust app id; workers with the same id share partitions")
    web_host: str = Field("127.0.0.1", description="Interface for the HTTP views and /metrics")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the HTTP views and /metrics")
    web_advertised_host: str | None = Field(
        None, description="Host other workers reach this one's views at (default: CSHEALTH_WEB_HOST)")
    web_token: SecretStr | None = Field(
        None, description="Bearer token the customer views require; unset = open (/healthz, /readyz, /metrics stay open)")
    web_token_file: Path | None = Field(None, description="File holding CSHEALTH_WEB_TOKEN (the container secrets convention)")
    state_dir: Path = Field(Path(".cshealth/state"), description="Local table store (RocksDB) directory")
    store: str = Field(f"{WORKER_STORE_SCHEME}://", description="Table store: cshealth-rocksdb:// (RocksDB without its write-ahead log, the changelog being the durable copy), rocksdb:// (Faust's) or memory://")
    store_memtable_mib: float = Field(8.0, gt=0, le=1024, description="RocksDB memtable per table partition, MiB (two at most each): memory against flushes")
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
    # Kafka security: Faust, the aiokafka clients and the admin client all take these as given
    # (the consistency check below refuses what they would read differently).
    security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (required with SASL_*)")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = Field(None, description="File holding the SASL password (instead of CSHEALTH_SASL_PASSWORD)")
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

    @field_validator("alertmanager_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str | None) -> str | None:
        from urllib.parse import urlsplit

        if value and (urlsplit(value).username or urlsplit(value).password):
            # The notifier names the URL in its log lines; a password in it would be logged.
            raise ValueError("holds a user or password; cshealth takes no credentials in URLs (they reach logs)")
        return value

    @field_validator("security_protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        allowed = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
        if value.upper() not in allowed:
            raise ValueError(f"must be one of {sorted(allowed)}")
        return value.upper()

    @field_validator("web_advertised_host", "web_token", "web_token_file", "sasl_mechanism", "sasl_username",
                     "sasl_password", "sasl_password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
                     "alertmanager_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        # docker compose's ${VAR:-} (and `VAR= cmd`) pass an unset variable on as "": that means
        # no value, not an empty one (an empty token would be matched by any "Bearer " header).
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sasl_mechanism")
    @classmethod
    def _known_mechanism(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if value.upper() not in SASL_MECHANISMS:
            raise ValueError(f"must be one of {', '.join(SASL_MECHANISMS)}")
        return value.upper()

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _store_known_to_faust(self) -> "Settings":
        """Faust finds a store class by its URL's scheme: the worker's own (streams/runtime/faust_store.py)
        is made known here, where every worker reads its settings, without importing it yet."""
        if self.store.split("://", 1)[0] == WORKER_STORE_SCHEME:
            from faust.stores import STORES

            STORES.aliases.setdefault(WORKER_STORE_SCHEME, "streams.runtime.faust_store:WalLessRocksStore")
        return self

    @model_validator(mode="after")
    def _secrets_from_files(self) -> "Settings":
        for name in ("sasl_password", "web_token"):
            path = getattr(self, f"{name}_file")
            if path is None:
                continue
            if getattr(self, name) is not None:
                raise ValueError(f"CSHEALTH_{name.upper()}_FILE: set together with CSHEALTH_{name.upper()}; give one")
            try:
                secret = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"CSHEALTH_{name.upper()}_FILE: cannot read {path} ({exc.strerror})") from None
            if not secret:
                raise ValueError(f"CSHEALTH_{name.upper()}_FILE: {path} is empty")
            setattr(self, name, SecretStr(secret))
        return self

    @model_validator(mode="after")
    def _one_reading_of_security(self) -> "Settings":
        """Faust derives its protocol from which credentials it gets, aiokafka and the admin client
        take security_protocol: refuse every combination they would read differently, and options
        a protocol ignores (a CA file that is never used is a mistake the user should hear of)."""
        protocol = self.security_protocol
        uses = f"CSHEALTH_SECURITY_PROTOCOL={protocol}"
        if protocol in SASL_PROTOCOLS:
            if not self.sasl_mechanism:
                raise ValueError(f"CSHEALTH_SASL_MECHANISM: required with {uses} ({', '.join(SASL_MECHANISMS)})")
            if not self.sasl_username:
                raise ValueError(f"CSHEALTH_SASL_USERNAME: required with {uses}")
            if self.sasl_password is None:
                raise ValueError(f"CSHEALTH_SASL_PASSWORD_FILE: required with {uses} (or CSHEALTH_SASL_PASSWORD)")
        else:
            for name in ("sasl_mechanism", "sasl_username", "sasl_password", "sasl_password_file"):
                if getattr(self, name) is not None:
                    raise ValueError(f"CSHEALTH_{name.upper()}: set, but {uses} uses no SASL (use SASL_SSL)")
        if protocol not in TLS_PROTOCOLS:
            for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, name) is not None:
                    raise ValueError(f"CSHEALTH_{name.upper()}: set, but {uses} uses no TLS (use SSL or SASL_SSL)")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("CSHEALTH_SSL_KEYFILE: set without CSHEALTH_SSL_CERTFILE")
        return self

    @property
    def advertised_host(self) -> str:
        """Where other workers reach this one's views (Faust's canonical URL): a wildcard bind
        address reaches nothing from another host, so it falls back to the host name."""
        if self.web_advertised_host:
            return self.web_advertised_host
        if self.web_host in ("0.0.0.0", "::", ""):
            import socket

            return socket.gethostname()
        return self.web_host

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
        if self.security_protocol in SASL_PROTOCOLS:
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        if self.security_protocol in TLS_PROTOCOLS:
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self):
        """The TLS context every client uses: the CA file's certificates (else the system's),
        hostname checked against the bootstrap address."""
        from aiokafka.helpers import create_ssl_context

        try:
            return create_ssl_context(cafile=_str(self.ssl_cafile), certfile=_str(self.ssl_certfile),
                                      keyfile=_str(self.ssl_keyfile))
        except Exception as exc:  # ssl.SSLError, OSError: a file that is no PEM certificate or key
            variable = "CSHEALTH_SSL_CAFILE" if self.ssl_certfile is None else "CSHEALTH_SSL_CAFILE/_CERTFILE/_KEYFILE"
            raise SettingsError(f"{variable}: not usable for TLS ({getattr(exc, 'reason', None) or exc})") from None

    def web_token_value(self) -> str | None:
        return self.web_token.get_secret_value() if self.web_token else None


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value raises SettingsError with one readable line."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # Only the message: pydantic's own text repeats the input, which may be a secret.
        problems = "; ".join(
            f"CSHEALTH_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg'].removeprefix('Value error, ')}"
            if err["loc"]
            else err["msg"].removeprefix("Value error, ") for err in exc.errors()
        )
        raise SettingsError(problems) from None


class SettingsError(ValueError):
    """A setting has a value the worker cannot use."""
