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
