"""docker-compose.yml stays runnable for users with Docker: pinned images, healthchecks, real mounts."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_every_image_is_pinned():
    for name, service in SERVICES.items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: {image} is not pinned"


def test_long_running_services_have_healthchecks():
    for name in ("kafka", "worker", "prometheus", "alertmanager", "grafana"):
        assert "healthcheck" in SERVICES[name], name


def test_mounted_repo_paths_exist_and_match_the_provisioning():
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/cshealth.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert any(v.endswith(f":{dashboards_path}:ro") for v in SERVICES["grafana"]["volumes"])


def test_kafka_settings_allow_transactions_on_one_node():
    env = SERVICES["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
        assert int(env[key]) == 1


def test_worker_points_at_the_services_prometheus_scrapes():
    prometheus = (ROOT / "prometheus/prometheus.yml").read_text()
    assert '"worker:6066"' in prometheus and '"alertmanager:9093"' in prometheus
    worker = SERVICES["worker"]["environment"]
    assert worker["CSHEALTH_WEB_PORT"] == "6066" and worker["CSHEALTH_ALERTMANAGER_URL"] == "http://alertmanager:9093"


def _published(service: dict) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_only_grafana_is_published_beyond_this_machine():
    for name, service in SERVICES.items():
        for port in _published(service):
            if name != "grafana":
                assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    # The worker's customer views and Alertmanager (which can silence pages) stay on the compose network.
    assert not _published(SERVICES["worker"]) and not _published(SERVICES["alertmanager"])
    assert not _published(SERVICES["kafka"])


def test_grafana_has_an_admin_password_from_the_environment_and_read_only_viewers():
    env = SERVICES["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?"), "no default password"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer" and env["GF_USERS_AUTO_ASSIGN_ORG_ROLE"] == "Viewer"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] in ("false", "${GRAFANA_ANONYMOUS_VIEWERS:-false}")
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false" and env["GF_USERS_VIEWERS_CAN_EDIT"] == "false"
    assert not any("admin" in str(value).lower() and "ROLE" in key for key, value in env.items())


def test_the_worker_advertises_its_service_name_and_takes_an_optional_token():
    from streams.settings import Settings

    worker = SERVICES["worker"]["environment"]
    assert worker["CSHEALTH_WEB_ADVERTISED_HOST"] == "worker" and worker["CSHEALTH_WEB_HOST"] == "0.0.0.0"
    assert worker["CSHEALTH_WEB_TOKEN"] == "${CSHEALTH_WEB_TOKEN:-}"
    # What compose passes when CSHEALTH_WEB_TOKEN is unset: no token, not an empty one.
    assert Settings(web_token="").web_token is None


def test_images_are_pinned_by_tag_or_a_full_digest():
    for name, service in SERVICES.items():
        image = service["image"]
        if "@" in image:
            digest = image.split("@", 1)[1]
            assert digest.startswith("sha256:") and len(digest) == len("sha256:") + 64, f"{name}: {image}"


def test_python_services_install_the_hash_checked_lock():
    for name, service in SERVICES.items():
        command = " ".join(service.get("command", []))
        if "pip install" in command:
            assert "--require-hashes -r /app/requirements.lock" in command, name
            assert "--no-deps" in command, name
