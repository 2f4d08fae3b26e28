"""Against the real broker's SASL_SSL listener (SCRAM-SHA-512, a local CA): the streaming
pipeline equals the replay, `cshealth topics` and `cshealth tail` work, the HTTP views need the
token and answer on every worker; a client with no credentials, a wrong password or an untrusted
CA is refused with one line; no secret reaches a log."""
from __future__ import annotations

import asyncio
import random
import time
import urllib.error
import urllib.request

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.devstack.processes import settings_from, stack_env
from streams.kafka.local_broker import free_port, make_ca
from tests.integration.harness import comparable, interleave_topics, produce
from tests.integration.test_streaming import assert_equal_to_replay, generate, oracle, workers  # noqa: F401 (a fixture)
from tests.security.conftest import clean_environ
from tests.support.cli import run_cli

pytestmark = pytest.mark.kafka
TOKEN = "view-token-7f3a9c"
REFUSAL_DEADLINE_S = 30


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_streaming_over_sasl_ssl_equals_the_replay_and_views_need_the_token(
        secure_kafka, secure_environ, unique_prefix, workers, tmp_path):
    """Two workers on different ports, bound to every interface and advertising another address
    than they bind: each answers for every customer (requests for the other's customers are
    forwarded with the token), and only with the token."""
    events = generate(150, 40, seed=21)
    expected = oracle(events)
    token_file = tmp_path / "web-token"
    token_file.write_text(TOKEN + "\n")
    env = stack_env(secure_kafka.bootstrap, unique_prefix, partitions=4) | secure_environ | {
        "CSHEALTH_WEB_TOKEN_FILE": str(token_file), "CSHEALTH_WEB_HOST": "0.0.0.0",
        # Not the bind address: 127.0.0.2 reaches this machine's loopback too, and only the
        # advertised address can have brought a forwarded request there.
        "CSHEALTH_WEB_ADVERTISED_HOST": "127.0.0.2"}
    first, second = workers(env, "first"), workers(env, "second")
    first.wait_ready()
    second.wait_ready()
    produce(env, interleave_topics(events, seed=3))
    assert_equal_to_replay(secure_kafka.bootstrap, env, expected, timeout_s=600)

    sample = random.Random(8).sample(sorted(expected), 30)
    for worker in (first, second):
        for cid in sample:
            status, body = get(f"{worker.url}/customers/{cid}", TOKEN)
            assert status == 200, (worker.url, cid, status, body[:200])
            assert comparable(orjson.loads(body)) == comparable(expected[cid])
        assert get(f"{worker.url}/customers/{sample[0]}")[0] == 401
        assert get(f"{worker.url}/customers/{sample[0]}", "wrong-token")[0] == 401
        for open_path in ("/healthz", "/readyz", "/metrics"):
            assert get(worker.url + open_path)[0] == 200, open_path
        for faust_view in ("/router", "/table/customer-state", "/graph", "/performance"):
            assert get(worker.url + faust_view, TOKEN)[0] == 404, faust_view
        assert get(f"{worker.url}/customers/bad%01id", TOKEN)[0] == 400
    for worker in (first, second):
        worker.stop()
    logs = [worker.log_path for worker in (first, second)] + [
        secure_kafka.data_dir / name for name in ("server.log", "broker.out")]
    for path in logs:
        text = path.read_text(errors="replace")
        for secret in [*secure_kafka.secrets(), TOKEN]:
            assert secret not in text, f"a secret is in {path.name}"


def test_topics_and_tail_over_sasl_ssl(secure_kafka, secure_environ, unique_prefix):
    env = clean_environ() | stack_env(secure_kafka.bootstrap, unique_prefix) | secure_environ
    created = run_cli("topics", env=env)
    assert created.returncode == 0 and "created:" in created.stdout, created.stderr
    alerts = [{"alert_id": f"a{i}", "customer_id": f"c{i}", "rule": "detractor", "severity": "warning",
               "status": "firing", "occurred_at": "2026-01-02T00:00:00Z", "summary": f"summary {i}"} for i in range(3)]

    async def send() -> None:
        producer = AIOKafkaProducer(**settings_from(env).kafka_client_options())
        await producer.start()
        try:
            for alert in alerts:
                await producer.send_and_wait(env["CSHEALTH_TOPIC_ALERTS"], orjson.dumps(alert))
        finally:
            await producer.stop()

    asyncio.run(send())
    tailed = run_cli("tail", "--from-beginning", "--alerts-only", "--limit", "3", env=env)
    assert tailed.returncode == 0, tailed.stderr
    assert all(f"summary {i}" in tailed.stdout for i in range(3)), tailed.stdout
    for result in (created, tailed):
        for secret in secure_kafka.secrets():
            assert secret not in result.stdout + result.stderr


def refusal_cases(secure_kafka, tmp_path) -> dict[str, tuple[dict, str]]:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    other_ca = tmp_path / "other-ca.pem"
    make_ca(tmp_path / "other-ca.p12", other_ca, "changeit", "someone else's CA")
    base = clean_environ() | {"CSHEALTH_BOOTSTRAP_SERVERS": secure_kafka.bootstrap}
    secure = base | secure_kafka.env
    return {
        "no credentials": (base, "does CSHEALTH_SECURITY_PROTOCOL=PLAINTEXT match its listener"),
        "TLS without credentials": (base | {"CSHEALTH_SECURITY_PROTOCOL": "SSL",
                                            "CSHEALTH_SSL_CAFILE": secure_kafka.env["CSHEALTH_SSL_CAFILE"]},
                                    "does CSHEALTH_SECURITY_PROTOCOL=SSL match its listener"),
        "wrong password": (secure | {"CSHEALTH_SASL_PASSWORD_FILE": str(wrong)},
                           "CSHEALTH_SASL_PASSWORD_FILE: Kafka at"),
        "untrusted CA": (secure | {"CSHEALTH_SSL_CAFILE": str(other_ca)},
                         "CSHEALTH_SSL_CAFILE: Kafka at"),
        "system CAs only": ({k: v for k, v in secure.items() if k != "CSHEALTH_SSL_CAFILE"},
                            "CSHEALTH_SSL_CAFILE: Kafka at"),
        "missing CA file": (secure | {"CSHEALTH_SSL_CAFILE": str(tmp_path / "missing.pem")},
                            "CSHEALTH_SSL_CAFILE: no such file"),
    }


@pytest.mark.parametrize("command", [
    ("topics",), ("worker",), ("tail", "--limit", "1"), ("simulate", "--kafka", "--customers", "2", "--days", "2"),
])
def test_a_refused_client_ends_with_one_line(secure_kafka, tmp_path, command):
    for case, (env, expected) in refusal_cases(secure_kafka, tmp_path).items():
        env = env | {"CSHEALTH_STATE_DIR": str(tmp_path / "state"), "CSHEALTH_WEB_PORT": str(free_port())}
        started = time.monotonic()
        result = run_cli(*command, env=env, timeout_s=REFUSAL_DEADLINE_S + 30)
        took = time.monotonic() - started
        output = (result.stdout + result.stderr).strip().splitlines()
        if command[0] == "simulate":  # it may say what it generated before it connects
            output = [line for line in output if not line.startswith("  ")]
        assert result.returncode != 0, (case, command, output)
        assert len(output) == 1 and output[0].startswith("cshealth: error: ") and expected in output[0], \
            (case, command, output)
        assert took < REFUSAL_DEADLINE_S, (case, command, took)
        for secret in secure_kafka.secrets():
            assert secret not in result.stdout + result.stderr, (case, command)


def test_the_controller_listener_takes_only_the_brokers_certificate(secure_kafka):
    """KRaft's controller listener cannot use SCRAM: it requires a client certificate from the
    local CA, which only the broker holds; a client with the CA but no certificate is refused."""
    from streams.kafka import local_broker

    controller = f"127.0.0.1:{local_broker.status(secure_kafka.data_dir).controller_port}"
    for protocol in ("SSL", "PLAINTEXT"):
        env = clean_environ() | {"CSHEALTH_BOOTSTRAP_SERVERS": controller, "CSHEALTH_SECURITY_PROTOCOL": protocol}
        if protocol == "SSL":
            env["CSHEALTH_SSL_CAFILE"] = secure_kafka.env["CSHEALTH_SSL_CAFILE"]
        result = run_cli("topics", env=env, timeout_s=REFUSAL_DEADLINE_S + 30)
        output = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode != 0 and len(output) == 1 and "closed the connection" in output[0], output
