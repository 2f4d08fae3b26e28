"""Security settings without a broker: what the clients would read differently is refused with
one line naming the variable; secrets come from files and stay out of reprs and errors; Faust
connects with exactly the protocol the settings name."""
from __future__ import annotations

import os

import pytest

from streams.runtime.app import faust_credentials
from streams.settings import Settings, SettingsError, load_settings
from tests.support.cli import run_cli
from tests.security.conftest import clean_environ

SECRET = "s3cret-Pa55word-never-printed"


@pytest.fixture
def files(tmp_path):
    password = tmp_path / "password"
    password.write_text(SECRET + "\n")
    ca = tmp_path / "ca.pem"
    from streams.kafka.local_broker import make_ca

    make_ca(tmp_path / "ca.p12", ca, "changeit", "test CA")
    return {"password": str(password), "ca": str(ca)}


def settings(**values) -> Settings:
    return load_settings(**values)


@pytest.fixture(autouse=True)
def no_security_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CSHEALTH_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("values,variable,words", [
    ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": SECRET},
     "CSHEALTH_SASL_MECHANISM", "required with CSHEALTH_SECURITY_PROTOCOL=SASL_SSL"),
    ({"security_protocol": "SSL", "sasl_mechanism": "SCRAM-SHA-512"},
     "CSHEALTH_SASL_MECHANISM", "uses no SASL"),
    ({"security_protocol": "SSL", "sasl_username": "u", "sasl_password": SECRET},
     "CSHEALTH_SASL_USERNAME", "uses no SASL"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_password": SECRET},
     "CSHEALTH_SASL_USERNAME", "required"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u"},
     "CSHEALTH_SASL_PASSWORD_FILE", "required"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "GSSAPI", "sasl_username": "u", "sasl_password": SECRET},
     "CSHEALTH_SASL_MECHANISM", "must be one of"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u",
      "sasl_password": SECRET, "sasl_password_file": "/etc/hostname"}, "CSHEALTH_SASL_PASSWORD_FILE", "give one"),
    ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN", "sasl_username": "u",
      "sasl_password_file": "/nonexistent/password"}, "CSHEALTH_SASL_PASSWORD_FILE", "cannot read"),
    ({"ssl_cafile": "/etc/hostname"}, "CSHEALTH_SSL_CAFILE", "uses no TLS"),
    ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "CSHEALTH_SSL_CAFILE", "no such file"),
    ({"web_token": SECRET, "web_token_file": "/etc/hostname"}, "CSHEALTH_WEB_TOKEN_FILE", "give one"),
    ({"alertmanager_url": f"http://pager:{SECRET}@alertmanager:9093"}, "CSHEALTH_ALERTMANAGER_URL",
     "no credentials in URLs"),
])
def test_inconsistent_security_is_refused_naming_the_variable(values, variable, words):
    with pytest.raises(SettingsError) as refused:
        settings(**values)
    message = str(refused.value)
    assert message.startswith(variable + ":") and words in message, message
    assert "\n" not in message and SECRET not in message


def test_a_ca_file_that_is_no_certificate_is_refused_when_used(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    configured = settings(security_protocol="SSL", ssl_cafile=str(junk))
    with pytest.raises(SettingsError, match="^CSHEALTH_SSL_CAFILE: not usable for TLS"):
        configured.kafka_client_options()


def test_secrets_come_from_files_and_stay_out_of_reprs(files, tmp_path):
    token = tmp_path / "token"
    token.write_text("web-token-xyz\n")
    configured = settings(security_protocol="SASL_SSL", sasl_mechanism="scram-sha-512", sasl_username="cshealth",
                          sasl_password_file=files["password"], ssl_cafile=files["ca"], web_token_file=str(token))
    assert configured.sasl_mechanism == "SCRAM-SHA-512"
    options = configured.kafka_client_options()
    assert options["sasl_plain_password"] == SECRET  # the trailing newline of the file is not part of it
    assert configured.web_token_value() == "web-token-xyz"
    for text in (repr(configured), str(configured), str(configured.model_dump())):
        assert SECRET not in text and "web-token-xyz" not in text


@pytest.mark.parametrize("protocol,extra", [
    ("PLAINTEXT", {}),
    ("SSL", {"ssl_cafile": "ca"}),
    ("SASL_PLAINTEXT", {"sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u", "sasl_password_file": "password"}),
    ("SASL_SSL", {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "u", "sasl_password_file": "password",
                  "ssl_cafile": "ca"}),
    ("SASL_SSL", {"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": SECRET}),
])
def test_faust_connects_with_the_protocol_the_settings_name(files, protocol, extra):
    values = {k: files.get(v, v) for k, v in extra.items()}
    configured = settings(security_protocol=protocol, **values)
    credentials = faust_credentials(configured)
    options = configured.kafka_client_options()
    assert options["security_protocol"] == protocol
    if protocol == "PLAINTEXT":
        assert credentials is None
        return
    assert credentials.protocol.value == protocol
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    faust_options = credentials_to_aiokafka_auth(credentials)
    # What Faust's consumer and producer get equals what the aiokafka clients and the admin client get.
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert faust_options.get(key) == options.get(key), key
    assert (faust_options.get("ssl_context") is None) == (options.get("ssl_context") is None)
    assert SECRET not in repr(credentials)


def test_the_command_line_refuses_a_mismatch_with_one_line(files):
    env = clean_environ() | {"CSHEALTH_SECURITY_PROTOCOL": "SASL_SSL", "CSHEALTH_SASL_USERNAME": "u",
                             "CSHEALTH_SASL_PASSWORD_FILE": files["password"], "CSHEALTH_SSL_CAFILE": files["ca"]}
    for command in (["topics"], ["worker"], ["tail"]):
        result = run_cli(*command, env=env, timeout_s=30)
        output = (result.stdout + result.stderr).strip().splitlines()
        assert result.returncode != 0 and len(output) == 1, (command, output)
        assert output[0].startswith("cshealth: error: CSHEALTH_SASL_MECHANISM: required"), output
        assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("values,host", [
    ({"web_host": "0.0.0.0", "web_advertised_host": "worker-a"}, "worker-a"),
    ({"web_host": "0.0.0.0"}, "HOSTNAME"),  # a wildcard bind address reaches nothing from elsewhere
    ({"web_host": "127.0.0.1"}, "127.0.0.1"),
])
def test_other_workers_reach_this_one_at_its_advertised_host(values, host):
    """The URL a worker gives the others for its customers (Faust's canonical URL, which the
    table route forwards to) is the advertised host, not the bind address."""
    import socket

    from streams.runtime.app import HealthWorker

    worker = HealthWorker(settings(store="memory://", web_port=7001, **values))
    expected = socket.gethostname() if host == "HOSTNAME" else host
    assert str(worker.app.conf.canonical_url) == f"http://{expected}:7001"
    assert worker.app.conf.web_bind == values["web_host"]
    # Faust's own views are off: only cshealth's (web.py) are served.
    conf = worker.app.conf
    assert not (conf.web_tables_enabled or conf.web_router_enabled or conf.web_graph_enabled
                or conf.web_stats_enabled or conf.web_metrics_enabled)


def test_an_empty_variable_is_an_unset_one():
    """`VAR= cmd` and compose's ${VAR:-} give "": no value, not an empty one."""
    configured = settings(sasl_mechanism="", sasl_username="", sasl_password="", sasl_password_file="",
                          ssl_cafile="", web_token="", web_token_file="", web_advertised_host="", alertmanager_url="")
    assert configured.security_protocol == "PLAINTEXT" and configured.kafka_client_options() == {
        "bootstrap_servers": configured.bootstrap_servers, "security_protocol": "PLAINTEXT"}
    assert configured.web_token_value() is None and configured.alertmanager_url is None
