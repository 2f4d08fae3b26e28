"""Extract the PromQL of Grafana dashboards, with variables substituted.

    from tests.observability.grafana_queries import panel_queries
    for expr in panel_queries("grafana/dashboards/overview.json",
                              {"segment": ["enterprise"], "__rate_interval": "30s"}):
        requests.get(f"{prom}/api/v1/query", params={"query": expr})

Variables:
  - a str value is inserted verbatim (give exactly what Grafana would send,
    e.g. ".*" for All or "enterprise");
  - a list value is a multi-value selection and is formatted as Grafana's
    Prometheus datasource does: each value regex-escaped, several joined as
    "(a|b)";
  - dashboard variables not given default to their All value (allValue, ".*"
    here) when they include All, else to their saved current value;
  - Grafana's built-ins default to BUILTINS (override them like any variable).
Forms handled: $var, ${var}, ${var:format} (raw, regex, pipe, csv) and the
deprecated [[var]]. Unknown variables raise ValueError, so a typo in a query
fails the tests instead of reaching Prometheus.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, Union

BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",   # >= 4 x the 15s scrape interval
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

Dashboard = Union[Mapping[str, Any], str, Path]
Value = Union[str, Sequence[str]]

_VAR = re.compile(
    r"\$\{(?P<b>[A-Za-z_]\w*)(?::(?P<bfmt>\w+))?\}"
    r"|\[\[(?P<d>[A-Za-z_]\w*)(?::(?P<dfmt>\w+))?\]\]"
    r"|\$(?P<p>[A-Za-z_]\w*)"
)
# Characters Grafana's Prometheus datasource escapes in multi-value regexes.
# The backslash is doubled because it sits inside a PromQL double-quoted string.
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


def load_dashboard(dashboard: Dashboard) -> dict:
    if isinstance(dashboard, (str, Path)):
        return json.loads(Path(dashboard).read_text())
    return dict(dashboard)


def iter_panels(dashboard: Dashboard) -> Iterator[dict]:
    """All panels, depth first, including those inside (collapsed) rows."""
    def walk(panels):
        for p in panels or []:
            yield p
            yield from walk(p.get("panels"))
    yield from walk(load_dashboard(dashboard).get("panels"))


def template_variables(dashboard: Dashboard) -> list[dict]:
    return list(load_dashboard(dashboard).get("templating", {}).get("list", []))


def regex_escape(value: str) -> str:
    value = value.replace("\\", "\\\\\\\\")
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def _format(name: str, value: Value, fmt: str | None) -> str:
    if isinstance(value, str):
        return value
    values = list(value)
    if not values:
        raise ValueError(f"variable {name!r} has an empty selection")
    if fmt in (None, "regex"):
        escaped = [regex_escape(v) for v in values]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
    if fmt == "raw" or fmt == "csv":
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    raise ValueError(f"unsupported format {fmt!r} for variable {name!r}")


def default_variables(dashboard: Dashboard) -> dict[str, Value]:
    """Dashboard variables at their defaults: All if offered, else the saved value."""
    out: dict[str, Value] = {}
    for var in template_variables(dashboard):
        name = var.get("name")
        if not name:
            continue
        current = (var.get("current") or {}).get("value")
        if var.get("includeAll"):
            out[name] = var.get("allValue") or ".*"
        elif isinstance(current, (str, list)) and current not in ("$__all", ["$__all"]):
            out[name] = current
    return out


def interpolate(expr: str, variables: Mapping[str, Value]) -> str:
    missing: set[str] = set()

    def sub(m: re.Match) -> str:
        name = m.group("b") or m.group("d") or m.group("p")
        fmt = m.group("bfmt") or m.group("dfmt")
        if name not in variables:
            missing.add(name)
            return m.group(0)
        return _format(name, variables[name], fmt)

    out = _VAR.sub(sub, expr)
    if missing:
        raise ValueError(f"undefined variable(s) {sorted(missing)} in query: {expr}")
    return out


@dataclass(frozen=True)
class PanelQuery:
    panel_id: int | None
    panel_title: str
    ref_id: str
    expr: str
    instant: bool


def panel_targets(dashboard: Dashboard, variables: Mapping[str, Value] | None = None) -> list[PanelQuery]:
    """Like panel_queries, with the panel and refId of each query."""
    dash = load_dashboard(dashboard)
    values: dict[str, Value] = {**BUILTINS, **default_variables(dash), **(variables or {})}
    out = []
    for panel in iter_panels(dash):
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if not expr:
                continue
            out.append(PanelQuery(panel.get("id"), panel.get("title", ""), target.get("refId", ""),
                                  interpolate(expr, values), bool(target.get("instant"))))
    return out


def panel_queries(dashboard: Dashboard, variables: Mapping[str, Value] | None = None) -> list[str]:
    """Every panel target's PromQL, in panel order, variables substituted."""
    return [q.expr for q in panel_targets(dashboard, variables)]
