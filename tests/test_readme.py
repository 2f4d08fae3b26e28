"""The README's configuration table and two commands stay true to the code."""
from __future__ import annotations

import re
from pathlib import Path

from streams.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_configuration_table_lists_every_setting_with_its_default():
    rows = dict(re.findall(r"^\| `(CSHEALTH_[A-Z_]+)` \| ([^|]+) \|", README, flags=re.M))
    expected = {f"CSHEALTH_{name.upper()}": field.default for name, field in Settings.model_fields.items()}
    assert set(rows) == set(expected)
    for variable, default in expected.items():
        shown = rows[variable].strip()
        if default is None:
            assert not shown.startswith("`"), f"{variable} has no default but the README shows {shown}"
        else:
            assert shown == f"`{default}`", f"{variable}: README says {shown}, code says {default}"


def test_quick_start_commands_exist_and_ci_runs_the_test_command():
    assert "bash streams/run.sh" in README and "bash tests/run.sh" in README
    assert (ROOT / "streams/run.sh").exists() and (ROOT / "tests/run.sh").exists()
    assert "bash tests/run.sh" in (ROOT / ".ci/run").read_text()
