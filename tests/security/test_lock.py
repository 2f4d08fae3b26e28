"""requirements.lock is the whole dependency tree with hashes, and agrees with pyproject.toml."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in the lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line)
        if match:
            entries[normalized(match.group(1))] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
    return entries


def test_every_locked_package_is_pinned_with_hashes():
    entries = locked()
    assert entries, "requirements.lock holds no requirement"
    for name, (version, hashes) in entries.items():
        assert hashes, f"{name}=={version} has no hash"
    # The build backend too: setup.sh installs the project without build isolation.
    assert {"setuptools", "wheel"} <= set(entries)


def test_the_lock_agrees_with_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    entries = locked()
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name, _, version = requirement.partition("==")
        name = normalized(name.split("[")[0].strip())
        assert name in entries, f"{requirement} is not in requirements.lock: regenerate it (see its header)"
        assert entries[name][0] == version.strip(), \
            f"pyproject.toml pins {requirement}, the lock {entries[name][0]}: regenerate it (see its header)"


def test_setup_installs_from_the_lock_with_hashes():
    setup = (ROOT / "streams/setup.sh").read_text()
    assert "--require-hashes -r requirements.lock" in setup
    assert "--no-deps" in setup
