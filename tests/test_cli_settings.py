"""A wrong setting stops the command at once with one line naming it (no broker needed: an
unreachable one is one of the wrong settings)."""
from __future__ import annotations

import os

import pytest

from tests.support.cli import run_cli


@pytest.mark.parametrize("variable,value,expected", [
    ("CSHEALTH_BOOTSTRAP_SERVERS", "127.0.0.1:1", "unreachable"),
    ("CSHEALTH_BOOTSTRAP_SERVERS", "no-port-here", "CSHEALTH_BOOTSTRAP_SERVERS"),
    ("CSHEALTH_PARTITIONS", "zero", "CSHEALTH_PARTITIONS"),
])
def test_wrong_setting_fails_fast_with_one_line(variable, value, expected):
    env = dict(os.environ, **{variable: value})
    result = run_cli("topics", env=env)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("cshealth: error:")]
    assert len(error_lines) == 1 and expected in error_lines[0]
    assert "Traceback" not in result.stderr
