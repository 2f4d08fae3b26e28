"""Render the repo's Prometheus / Alertmanager configs for another environment.

prometheus/prometheus.yml and prometheus/alertmanager.yml are the docker
compose / local-demo flavours. Prometheus cannot read environment variables
in targets and Alertmanager cannot in webhook URLs, so tests and the local
demo render a copy with their own values (plain text substitution of known
lines; a changed line makes rendering fail loudly rather than silently keep
the compose values).

    from streams.devstack.render_config import render_prometheus_config
    cfg = render_prometheus_config(tmp_path, targets=["127.0.0.1:6066"],
                                   alertmanagers=["127.0.0.1:9093"],
                                   scrape_interval="1s", rule_interval="1s")
    # prometheus --config.file=<cfg> ...

Command line (from the repo root):
    .venv/bin/python -m streams.devstack.render_config prometheus \\
        --target 127.0.0.1:6066 --alertmanager 127.0.0.1:9093 --out .cshealth/prometheus
    .venv/bin/python -m streams.devstack.render_config alertmanager \\
        --oncall-url http://127.0.0.1:9095/oncall --team-url http://127.0.0.1:9095/team \\
        --out .cshealth/alertmanager.yml
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
PROMETHEUS_YML = PROM_DIR / "prometheus.yml"
ALERTMANAGER_YML = PROM_DIR / "alertmanager.yml"
RULES_DIR = PROM_DIR / "rules"

# The exact lines of the compose flavour that rendering replaces.
WORKER_TARGETS = '- targets: ["worker:6066"]'
ALERTMANAGER_TARGETS = '- targets: ["alertmanager:9093"]'
RULE_FILES = "- rules/*.yml"
ONCALL_URL = "http://127.0.0.1:9095/oncall"
TEAM_URL = "http://127.0.0.1:9095/team"


class RenderError(RuntimeError):
    pass


def _replace_once(text: str, old: str, new: str, source: Path) -> str:
    count = text.count(old)
    if count != 1:
        raise RenderError(f"expected {old!r} exactly once in {source}, found {count}; "
                          f"update streams/devstack/render_config.py with the file")
    return text.replace(old, new)


def _replace_key(text: str, key: str, value: str, source: Path, *, at_least: int = 1) -> str:
    pattern = re.compile(rf"^(\s*{re.escape(key)}:\s*)\S+", re.M)
    new, count = pattern.subn(lambda m: m.group(1) + value, text)
    if count < at_least:
        raise RenderError(f"no '{key}:' line in {source}")
    return new


def render_prometheus_config(out_dir: Path | str, targets: Iterable[str] = ("127.0.0.1:6066",),
                             alertmanagers: Iterable[str] = ("127.0.0.1:9093",), *,
                             scrape_interval: str | None = None,
                             evaluation_interval: str | None = None,
                             rule_interval: str | None = None) -> Path:
    """Write out_dir/prometheus.yml; returns its path.

    targets: worker host:port list (job "cshealth"); alertmanagers: host:port
    list (empty = no alerting). Rule files are referenced by absolute path from
    the repo, unless rule_interval is given: then they are copied to
    out_dir/rules with every group's `interval:` set to it (the survey and
    eNPS groups otherwise wait 1m / 5m between evaluations; handy for an
    end-to-end test that wants answers within seconds).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = PROMETHEUS_YML.read_text()
    targets = list(targets)
    if not targets:
        raise ValueError("at least one worker target is needed")
    text = _replace_once(text, WORKER_TARGETS, f"- targets: {json.dumps(targets)}", PROMETHEUS_YML)
    ams = list(alertmanagers)
    text = _replace_once(text, ALERTMANAGER_TARGETS, f"- targets: {json.dumps(ams)}", PROMETHEUS_YML)
    if rule_interval is None:
        rules_glob = str(RULES_DIR / "*.yml")
    else:
        rules_out = out_dir / "rules"
        rules_out.mkdir(exist_ok=True)
        for f in sorted(RULES_DIR.glob("*.yml")):
            body = f.read_text()
            body = re.sub(r"^(\s+)interval:\s*\S+", rf"\g<1>interval: {rule_interval}", body, flags=re.M)
            (rules_out / f.name).write_text(body)
        rules_glob = str(rules_out / "*.yml")
    text = _replace_once(text, RULE_FILES, f"- {json.dumps(rules_glob)}", PROMETHEUS_YML)
    if scrape_interval:
        text = _replace_key(text, "scrape_interval", scrape_interval, PROMETHEUS_YML)
    if evaluation_interval:
        text = _replace_key(text, "evaluation_interval", evaluation_interval, PROMETHEUS_YML)
    path = out_dir / "prometheus.yml"
    path.write_text(f"# Rendered by streams/devstack/render_config.py from {PROMETHEUS_YML}\n" + text)
    return path


def render_alertmanager_config(out_path: Path | str, oncall_url: str, team_url: str, *,
                               group_wait: str | None = None,
                               group_interval: str | None = None,
                               repeat_interval: str | None = None) -> Path:
    """Write the Alertmanager config with the two webhook URLs replaced.

    The timers, when given, replace every occurrence (root and child routes),
    e.g. group_wait="1s" for a test that waits for the webhook.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    text = ALERTMANAGER_YML.read_text()
    text = _replace_once(text, f"url: {ONCALL_URL}", f"url: {json.dumps(oncall_url)}", ALERTMANAGER_YML)
    text = _replace_once(text, f"url: {TEAM_URL}", f"url: {json.dumps(team_url)}", ALERTMANAGER_YML)
    for key, value in (("group_wait", group_wait), ("group_interval", group_interval),
                       ("repeat_interval", repeat_interval)):
        if value:
            text = _replace_key(text, key, value, ALERTMANAGER_YML)
    out_path.write_text(f"# Rendered by streams/devstack/render_config.py from {ALERTMANAGER_YML}\n"
                        + text)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render cshealth monitoring configs.")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("prometheus", help="write <out>/prometheus.yml")
    p.add_argument("--target", action="append", required=True, help="worker host:port (repeatable)")
    p.add_argument("--alertmanager", action="append", default=[], help="host:port (repeatable)")
    p.add_argument("--scrape-interval")
    p.add_argument("--evaluation-interval")
    p.add_argument("--rule-interval")
    p.add_argument("--out", required=True, help="output directory")
    a = sub.add_parser("alertmanager", help="write the Alertmanager config file")
    a.add_argument("--oncall-url", required=True)
    a.add_argument("--team-url", required=True)
    a.add_argument("--group-wait")
    a.add_argument("--out", required=True, help="output file")
    args = parser.parse_args(argv)
    if args.what == "prometheus":
        path = render_prometheus_config(args.out, args.target, args.alertmanager,
                                        scrape_interval=args.scrape_interval,
                                        evaluation_interval=args.evaluation_interval,
                                        rule_interval=args.rule_interval)
    else:
        path = render_alertmanager_config(args.out, args.oncall_url, args.team_url,
                                          group_wait=args.group_wait)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
