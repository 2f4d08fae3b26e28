import tomllib

import pytest

from handlers.config import COMPONENTS, DEFAULT_PATH, ConfigError, HealthConfig, load_config, parse_config


def test_defaults_load_from_the_versioned_file():
    cfg = load_config()
    assert isinstance(cfg, HealthConfig)
    assert cfg.version == tomllib.loads(DEFAULT_PATH.read_text())["version"]
    assert cfg.windows.nps == 90 and cfg.windows.contacts == 30 and cfg.windows.mentions == 7
    assert cfg.bands.red_enter < cfg.bands.red_exit <= cfg.bands.green_exit < cfg.bands.green_enter
    assert {n: getattr(cfg.weights, n) for n in COMPONENTS}["nps"] == 20
    assert cfg.time.lateness_ms == 6 * 3_600_000
    assert cfg.horizon_days() == 181  # activity baseline 180 is the longest look-back


def test_file_defaults_match_model_defaults():
    # The docstring table documents the model defaults; the file must not silently diverge.
    assert load_config() == HealthConfig(version=load_config().version)


def test_load_from_path(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('version = "t1"\n[weights]\nnps = 50\n')
    cfg = load_config(str(p))
    assert cfg.version == "t1" and cfg.weights.nps == 50 and cfg.weights.csat == 10


@pytest.mark.parametrize("data, expected", [
    ({"version": "x", "weights": {"nps": -1}}, "weights.nps: Input should be greater than or equal to 0"),
    ({"version": "x", "weights": {"nps": "heavy"}}, "weights.nps: Input should be a valid number"),
    ({"version": "x", "weights": {n: 0 for n in COMPONENTS}}, "at least one weight must be > 0"),
    ({"version": "x", "bands": {"red_enter": 80}}, "bands out of order"),
    ({"version": "x", "bands": {"green_exit": 80}}, "bands out of order"),
    ({"version": "x", "colour": "red"}, "colour: unknown key"),
    ({"version": "x", "weights": {"usage": 10}}, "weights.usage: unknown key"),
    ({"version": "x", "alerts": {"silence": {"severity": "loud"}}}, "alerts.silence.severity"),
    ({"weights": {}}, "version: Field required"),
    ({"version": "x", "priors": {"nps": 100}}, "priors.nps: Input should be less than 100"),
    ({"version": "x", "priors": {"usage": 50}}, "priors.usage: unknown key"),
    ({"version": "x", "purchases": {"model": "pareto"}}, "purchases.model: Input should be 'bgnbd' or 'none'"),
    ({"version": "x", "uncertainty": {"interval": 1.0}}, "uncertainty.interval: Input should be less than 1"),
])
def test_invalid_config_fails_fast_with_one_line(data, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    msg = str(err.value)
    assert expected in msg and "\n" not in msg


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("version = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))
