"""Fixtures for the monitoring-config tests.

promtool / amtool / alertmanager are required, never skipped: CI installs the
Debian packages `prometheus` and `prometheus-alertmanager`. Override a path
with PROMTOOL, AMTOOL or ALERTMANAGER in the environment.
"""
from __future__ import annotations

import os
import shutil

import pytest


def _require(env: str, names: tuple[str, ...], package: str) -> str:
    path = os.environ.get(env) or next(filter(None, map(shutil.which, names)), None)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            f"{' / '.join(names)} not found (PATH or ${env}). Install the Debian package "
            f"'{package}' (apt-get install -y {package}); CI does. These tests do not skip.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _require("PROMTOOL", ("promtool",), "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    return _require("AMTOOL", ("amtool",), "prometheus-alertmanager")


@pytest.fixture(scope="session")
def alertmanager_bin() -> str:
    return _require("ALERTMANAGER", ("alertmanager", "prometheus-alertmanager"),
                    "prometheus-alertmanager")
