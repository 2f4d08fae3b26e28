"""One secure local broker (SASL_SSL, SCRAM-SHA-512, its own CA) per test session, and the
client settings `cshealth kafka start --secure` writes for it."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.kafka import local_broker

SECURITY_VARIABLES = ("CSHEALTH_SECURITY_PROTOCOL", "CSHEALTH_SASL_MECHANISM", "CSHEALTH_SASL_USERNAME",
                      "CSHEALTH_SASL_PASSWORD", "CSHEALTH_SASL_PASSWORD_FILE", "CSHEALTH_SSL_CAFILE",
                      "CSHEALTH_SSL_CERTFILE", "CSHEALTH_SSL_KEYFILE", "CSHEALTH_WEB_TOKEN", "CSHEALTH_WEB_TOKEN_FILE")


@dataclass
class SecureBroker:
    bootstrap: str
    env: dict[str, str]        # what the env file sets (bootstrap included)
    data_dir: Path
    password: str              # the client user's: never to be seen in any output

    def secrets(self) -> list[str]:
        """Every secret of the broker: none may appear in a log or an output."""
        secure = self.data_dir / local_broker.SECURE_DIR
        return [path.read_text().strip() for path in secure.glob("*.password")]


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory) -> SecureBroker:
    data_dir = tmp_path_factory.mktemp("kafka-secure")
    info = local_broker.start(data_dir, secure=True)
    try:
        env = local_broker.secure_env(data_dir)
        yield SecureBroker(info.bootstrap, env, data_dir, Path(env["CSHEALTH_SASL_PASSWORD_FILE"]).read_text().strip())
    finally:
        local_broker.stop(data_dir)


def clean_environ() -> dict[str, str]:
    """This process's environment without any Kafka or web security setting of the caller's."""
    return {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}


@pytest.fixture
def secure_environ(secure_kafka, monkeypatch) -> dict[str, str]:
    """The secure client settings in this process's environment too: the tests' own readers
    (tests/support/topics.py) take their settings from it."""
    for name in SECURITY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in secure_kafka.env.items():
        monkeypatch.setenv(name, value)
    return dict(secure_kafka.env)
