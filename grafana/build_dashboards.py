#!/usr/bin/env python3
"""Build the cshealth Grafana dashboards (grafana/dashboards/*.json).

The JSON files are generated: edit this file, then run

    .venv/bin/python grafana/build_dashboards.py          # rewrite the JSON
    .venv/bin/python grafana/build_dashboards.py --check  # exit 1 if stale

tests/observability/test_dashboards.py fails when the JSON and this builder
disagree, and checks every query against the metric catalogue and the
recording rules. Panels, queries, variables and links are built with Grafana's
own grafana-foundation-sdk (the version for the Grafana that docker-compose.yml
runs; pinned in pyproject.toml).

Query rules of the house:
  - ratios (NPS, CSAT, red share) are sum(numerator) / sum(denominator) over
    the selected segments, never an average of per-segment ratios;
  - rates use [$__rate_interval]; "per hour" panels use increase(...[1h]);
  - metrics without a segment label (alerts, band transitions, score changes,
    eNPS) are company-wide and say so in the title.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge as bargauge_panel
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat as stat_panel
from grafana_foundation_sdk.builders import timeseries as timeseries_panel
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common, dashboard as models

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="cshealth-prom")
OUT_DIR = Path(__file__).resolve().parent / "dashboards"

SEG = 'segment=~"$segment"'
INST = 'instance=~"$instance"'
SURVEYS_1H = "segment_kind_category:cshealth_survey_responses:increase1h"
SURVEYS_1D = "segment_kind_category:cshealth_survey_responses:increase1d"
CUSTOMERS = "band_segment:cshealth_customers:sum"
REVENUE_1H = "segment_kind:cshealth_revenue:increase1h"


# ----------------------------------------------------------------- queries
def nps_expr(series: str, kind: str = "nps") -> str:
    """NPS points (-100..100) over the selected segments."""
    return (
        f'100 * ((sum({series}{{kind="{kind}", category="promoter", {SEG}}}) or vector(0))'
        f' - (sum({series}{{kind="{kind}", category="detractor", {SEG}}}) or vector(0)))'
        f' / (sum({series}{{kind="{kind}", {SEG}}}) > 0)'
    )


def csat_expr(series: str) -> str:
    """Percent of CSAT answers scoring 4-5 over the selected segments."""
    return (
        f'100 * (sum({series}{{kind="csat", category="satisfied", {SEG}}}) or vector(0))'
        f' / (sum({series}{{kind="csat", {SEG}}}) > 0)'
    )


def quantile_expr(q: float, bucket: str, matcher: str, by: str = "") -> str:
    labels = f"{by}, le" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({labels}) "
        f"(rate({bucket}{{{matcher}}}[$__rate_interval])))"
    )


def revenue_kind(kind: str) -> str:
    return f'sum({REVENUE_1H}{{kind="{kind}", {SEG}}})'


# ------------------------------------------------------------------ panels
REDUCE_LAST = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


def target(expr: str, legend: str = "", instant: bool = False) -> Builder:
    query = prometheus.Dataquery().datasource(DATASOURCE).expr(expr).legend_format(legend or "__auto")
    return query.instant() if instant else query.range()


def panel(builder: Builder, title: str, targets: list[Builder], *, unit: str = "short",
          description: str = "", w: int = 12, h: int = 8) -> tuple[Builder, tuple[int, int]]:
    """A panel of any kind with its queries (refId A, B, ...) and its size; layout() places it."""
    builder.title(title).description(description).datasource(DATASOURCE).unit(unit)
    for i, t in enumerate(targets):
        builder.with_target(t.ref_id(chr(ord("A") + i)))
    return builder, (w, h)


def stat(title, expr, *, unit="short", description="", decimals=None, w=6, h=4, mappings=None,
         legend=""):
    builder = (stat_panel.Panel().reduce_options(REDUCE_LAST).color_mode(common.BigValueColorMode.VALUE)
               .graph_mode(common.BigValueGraphMode.AREA).text_mode(common.BigValueTextMode.AUTO))
    if decimals is not None:
        builder.decimals(decimals)
    if mappings:
        builder.mappings(mappings)
    return panel(builder, title, [target(expr, legend)], unit=unit, description=description, w=w, h=h)


def timeseries(title, targets, *, unit="short", description="", w=12, h=8, stack=False,
               bars=False, overrides=None):
    builder = (timeseries_panel.Panel()
               .legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                       .placement(common.LegendPlacement.BOTTOM).show_legend(True))
               .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                        .sort(common.SortOrder.DESCENDING))
               .draw_style(common.GraphDrawStyle.BARS if bars else common.GraphDrawStyle.LINE)
               .fill_opacity(60 if (stack or bars) else 10).line_width(1)
               .show_points(common.VisibilityMode.NEVER)
               .stacking(common_builders.StackingConfig()
                         .mode(common.StackingMode.NORMAL if stack else common.StackingMode.NONE).group("A")))
    for name, color in (overrides or {}).items():
        builder.override_by_name(name, [models.DynamicConfigValue(
            id_val="color", value={"mode": "fixed", "fixedColor": color})])
    return panel(builder, title, targets, unit=unit, description=description, w=w, h=h)


def bargauge(title, expr, legend, *, unit="short", description="", w=12, h=8):
    builder = (bargauge_panel.Panel().orientation(common.VizOrientation.HORIZONTAL)
               .display_mode(common.BarGaugeDisplayMode.GRADIENT).reduce_options(REDUCE_LAST))
    return panel(builder, title, [target(expr, legend, instant=True)], unit=unit,
                 description=description, w=w, h=h)


def row(title: str) -> tuple[Builder, tuple[int, int]]:
    return dashboard_builders.Row(title).collapsed(False), (24, 1)


def value_text(texts_colors: dict[str, tuple[str, str]]) -> list[models.ValueMap]:
    """Value mappings: value -> (text, color)."""
    return [models.ValueMap(options={
        value: models.ValueMappingResult(text=text, color=color, index=i)
        for i, (value, (text, color)) in enumerate(texts_colors.items())})]


def layout(panels: list[tuple[Builder, tuple[int, int]]]) -> list[tuple[Builder, bool]]:
    """Assign ids and gridPos: left to right, wrapping at 24 columns; (builder, is a row)."""
    x = y = row_h = 0
    placed = []
    for pid, (p, (w, h)) in enumerate(panels, start=1):
        is_row = isinstance(p, dashboard_builders.Row)
        if is_row or x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p.id(pid).grid_pos(models.GridPos(x=x, y=y, w=w, h=h))
        placed.append((p, is_row))
        x += w
        row_h = max(row_h, h)
        if is_row:
            x, y, row_h = 0, y + h, 0
    return placed


def query_variable(name: str, label: str, query: str) -> Builder:
    return (dashboard_builders.QueryVariable(name).label(label).datasource(DATASOURCE).query(query)
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)  # new segments/workers show up
            .include_all(True).all_value(".*").multi(True)
            .current(models.VariableOption(selected=True, text=["All"], value=["$__all"]))
            .options([]).regex("").sort(models.VariableSort.ALPHABETICAL_ASC)
            .hide(models.VariableHide.DONT_HIDE))


def dashboard(uid: str, title: str, description: str, variables: list[Builder],
              panels: list[tuple[Builder, tuple[int, int]]], links: list[Builder]) -> dict:
    board = (dashboard_builders.Dashboard(title).uid(uid).description(description).tags(["cshealth"])
             .timezone("browser").editable().tooltip(models.DashboardCursorSync.CROSSHAIR).version(1)
             .refresh("30s").time("now-24h", "now").timepicker(dashboard_builders.TimePicker())
             .fiscal_year_start_month(0).live_now(False)
             .annotation(dashboard_builders.AnnotationQuery().built_in(1).name("Annotations & Alerts")
                         .datasource(models.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
                         .enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)").type("dashboard")))
    for link_ in links:
        board.link(link_)
    for variable in variables:
        board.with_variable(variable)
    for p, is_row in layout(panels):
        if is_row:
            board.with_row(p)
        else:
            board.with_panel(p)
    out = {"id": None, **json.loads(json.dumps(board.build(), cls=JSONEncoder))}  # provisioned: id null
    # The SDK's variable model has no `definition`, the query text Grafana's editor shows.
    for variable in out["templating"]["list"]:
        variable["definition"] = variable["query"]
    return out


def link(title: str, uid: str) -> Builder:
    return (dashboard_builders.DashboardLink(title).type(models.DashboardLinkType.LINK).url(f"/d/{uid}")
            .icon("dashboard").keep_time(True).include_vars(False).as_dropdown(False).target_blank(False)
            .tags([]).tooltip(""))


BAND_COLORS = {"green": "green", "yellow": "yellow", "red": "red", "unknown": "gray"}


# ---------------------------------------------------------------- overview
def overview() -> dict:
    red = f'(sum({CUSTOMERS}{{band="red", {SEG}}}) or vector(0))'
    panels = [
        row("Voice of the customer"),
        stat("NPS (24h)", nps_expr(SURVEYS_1D), decimals=0,
             description="Net Promoter Score over the last 24 hours for the selected segments: "
                         "100 x (promoters - detractors) / answers."),
        stat("CSAT (24h)", csat_expr(SURVEYS_1D), unit="percent", decimals=1,
             description="Percent of CSAT answers scoring 4 or 5, last 24 hours, selected segments."),
        stat("eNPS (7 days, company-wide)", "cshealth:company_enps:ratio_7d", decimals=0,
             description="Employee NPS over 7 days. Employees have no customer segment, "
                         "so the segment filter does not apply."),
        stat("Red customers", f'sum({CUSTOMERS}{{band="red", {SEG}}})', decimals=0,
             description="Customers currently in the red band, selected segments."),
        timeseries("NPS", [target(nps_expr(SURVEYS_1H), "last hour"),
                           target(nps_expr(SURVEYS_1D), "last 24h")],
                   description="NPS over a 1h and a 24h window; the 1h line is noisy on low volume."),
        timeseries("CSAT", [target(csat_expr(SURVEYS_1H), "last hour"),
                            target(csat_expr(SURVEYS_1D), "last 24h")], unit="percent",
                   description="Percent of CSAT answers scoring 4-5."),
        timeseries("Survey answers per hour by category",
                   [target(f"sum by (kind, category) ({SURVEYS_1H}{{{SEG}}})",
                           "{{kind}} {{category}}")], bars=True, stack=True,
                   description="NPS, CSAT, CES and eNPS answers over the last hour, by category."),
        timeseries("eNPS (company-wide)",
                   [target("cshealth:company_enps:ratio_1d", "last 24h"),
                    target("cshealth:company_enps:ratio_7d", "last 7 days")],
                   description="Employee NPS; not filtered by segment."),

        row("Customer health"),
        timeseries("Customers by health band",
                   [target(f"sum by (band) ({CUSTOMERS}{{{SEG}}})", "{{band}}")], stack=True,
                   overrides=BAND_COLORS,
                   description="Customers per band (green, yellow, red, unknown = no data yet)."),
        timeseries("Red share",
                   [target(f"{red} / (sum({CUSTOMERS}{{{SEG}}}) > 0)", "red share")],
                   unit="percentunit", description="Red customers over all customers."),
        timeseries("Red customers by segment",
                   [target(f'sum by (segment) ({CUSTOMERS}{{band="red", {SEG}}})', "{{segment}}")]),
        timeseries("Health score at evaluation (p10 / p50 / p90)",
                   [target(quantile_expr(q, "cshealth_health_score_bucket", SEG), f"p{int(q * 100)}")
                    for q in (0.1, 0.5, 0.9)],
                   description="Quantiles of the scores computed in the interval (one observation "
                               "per evaluation, so active customers weigh more). Bucket "
                               "width is 10 points."),
        timeseries("Band transitions per hour (all segments)",
                   [target("sum by (from_band, to_band) (increase(cshealth_band_transitions_total[1h]))",
                           "{{from_band}} -> {{to_band}}")]),
        timeseries("Score changes per hour (all segments)",
                   [target("sum by (direction) (increase(cshealth_score_changes_total[1h]))",
                           "{{direction}}")],
                   overrides={"up": "green", "down": "red"}),

        row("Customer alerts"),
        timeseries("Customer alerts fired per hour by rule (all segments)",
                   [target('sum by (rule) (increase(cshealth_alerts_total{status="firing"}[1h]))',
                           "{{rule}}")], bars=True, stack=True),
        bargauge("Customer alerts fired in the time range (all segments)",
                 'sum by (rule, severity) (increase(cshealth_alerts_total{status="firing"}[$__range]))',
                 "{{rule}} ({{severity}})"),

        row("Revenue and social"),
        timeseries("Revenue per hour by kind",
                   [target(f"sum by (kind) ({REVENUE_1H}{{{SEG}}})", "{{kind}}")], bars=True,
                   description="Amounts in reporting currency over the last hour: new, repeat, "
                               "renewal, expansion, contraction, refund."),
        timeseries("Expansion vs contraction per hour",
                   [target(revenue_kind("expansion"), "expansion"),
                    target(f"-{revenue_kind('contraction')}", "contraction (negative)"),
                    target(f"({revenue_kind('expansion')} or vector(0)) - "
                           f"({revenue_kind('contraction')} or vector(0))", "net expansion")],
                   overrides={"expansion": "green", "contraction (negative)": "red",
                              "net expansion": "blue"}),
        stat("Net expansion (24h)",
             f'(sum(increase(cshealth_revenue_total{{kind="expansion", {SEG}}}[1d])) or vector(0))'
             f' - (sum(increase(cshealth_revenue_total{{kind="contraction", {SEG}}}[1d])) or vector(0))',
             decimals=0, w=6, h=8,
             description="Expansion minus contraction revenue over the last 24 hours."),
        timeseries("Negative mentions per hour by segment",
                   [target(f"sum by (segment) (increase(cshealth_negative_mentions_total{{{SEG}}}[1h]))",
                           "{{segment}}")], w=18),
    ]
    return dashboard(
        "cshealth-overview", "cshealth / Overview",
        "Customer-success health: NPS, CSAT, eNPS, health bands, customer alerts, revenue "
        "movements and negative mentions.",
        [query_variable("segment", "Segment", "label_values(cshealth_customers, segment)")],
        panels, [link("cshealth / Operations", "cshealth-ops")])


# -------------------------------------------------------------- operations
def operations() -> dict:
    panels = [
        row("Workers"),
        stat("Workers up", f'sum(up{{job="cshealth", {INST}}})', decimals=0,
             description="Workers Prometheus can scrape."),
        stat("Assigned partitions", f"sum by (instance) (cshealth_assigned_partitions{{{INST}}})",
             decimals=0, legend="{{instance}}"),
        stat("Table recovery", f"cshealth_recovery_complete{{{INST}}}", legend="{{instance}}",
             mappings=value_text({"0": ("recovering", "orange"), "1": ("done", "green")}),
             description="1 once a worker has rebuilt its tables from the changelog."),
        timeseries("Rebalances", [target(
            f"sum by (instance) (increase(cshealth_rebalances_total{{{INST}}}[$__rate_interval]))",
            "{{instance}}")], w=6, h=4, bars=True),

        row("Throughput and freshness"),
        timeseries("Events consumed per second by topic", [target(
            f"sum by (topic) (rate(cshealth_events_consumed_total{{{INST}}}[$__rate_interval]))",
            "{{topic}}")], unit="ops", stack=True),
        timeseries("Event age p50 / p99",
                   [target(quantile_expr(0.5, "cshealth_event_age_seconds_bucket", INST), "p50"),
                    target(quantile_expr(0.99, "cshealth_event_age_seconds_bucket", INST), "p99")],
                   unit="s", description="Processing wall clock minus the event's occurred_at. "
                                         "Alerts: p99 > 1m warning, > 10m critical."),
        timeseries("Event age p99 by topic",
                   [target(quantile_expr(0.99, "cshealth_event_age_seconds_bucket", INST, by="topic"),
                           "{{topic}}")], unit="s"),
        timeseries("Event-time watermark behind wall clock",
                   [target(f"time() - cshealth_event_time_watermark_seconds{{{INST}}}",
                           "{{instance}}")], unit="s",
                   description="How old the newest folded event is; grows when input stops."),
        timeseries("Event time held back (newest folded minus effective watermark)",
                   [target(f"cshealth_event_time_watermark_seconds{{{INST}}} - "
                           f"cshealth_event_time_effective_watermark_seconds{{{INST}}}", "{{instance}}")],
                   unit="s", description="Days close at the effective watermark: the slowest input still "
                                         "delivering, with unread records, or not heard from Kafka since its "
                                         "last record (broker unreachable). Large and growing: an input is "
                                         "stuck or far behind the others in event time."),
        timeseries("Consumer lag by topic", [target(
            f"sum by (topic) (max by (topic, partition) (cshealth_consumer_lag{{{INST}}}))",
            "{{topic}}")], description="Messages behind the high-water mark (max per partition, "
                                       "so a partition reported twice during a rebalance counts once)."),
        timeseries("Consumer lag by worker", [target(
            f"sum by (instance) (cshealth_consumer_lag{{{INST}}})", "{{instance}}")]),
        timeseries("Batch processing time p50 / p99",
                   [target(quantile_expr(0.5, "cshealth_processing_seconds_bucket", INST), "p50"),
                    target(quantile_expr(0.99, "cshealth_processing_seconds_bucket", INST), "p99")],
                   unit="s"),
        timeseries("Garbage-collector pauses (seconds stopped per second)", [target(
            f"sum by (instance, collection) (rate(cshealth_gc_pause_seconds_sum{{{INST}}}[$__rate_interval]))",
            "{{instance}} {{collection}}")], unit="s",
                   description="The event loop stands still while the paced collector runs: young every "
                               "10 s, full (every live object walked) when the worker has been idle 2 s "
                               "after ten minutes, or hourly at the latest. Spikes in event age that "
                               "line up with full pauses come from it."),

        row("Bad input"),
        timeseries("DLQ records per second by topic", [target(
            f"sum by (topic) (rate(cshealth_dlq_records_total{{{INST}}}[$__rate_interval]))",
            "{{topic}}")], unit="ops", w=8),
        timeseries("Rejected events per second by reason", [target(
            f"sum by (reason) (rate(cshealth_events_rejected_total{{{INST}}}[$__rate_interval]))",
            "{{reason}}")], unit="ops", w=8, stack=True),
        timeseries("Duplicate and late events per second", [
            target(f"sum(rate(cshealth_events_duplicate_total{{{INST}}}[$__rate_interval]))",
                   "duplicates"),
            target(f"sum(rate(cshealth_events_late_total{{{INST}}}[$__rate_interval]))", "late")],
            unit="ops", w=8),

        row("Alert delivery"),
        timeseries("Alertmanager posts per second by outcome", [target(
            f"sum by (outcome) (rate(cshealth_alertmanager_posts_total{{{INST}}}[$__rate_interval]))",
            "{{outcome}}")], unit="ops", overrides={"ok": "green", "error": "red"}),
        timeseries("Customer alerts per second by status", [target(
            f"sum by (status) (rate(cshealth_alerts_total{{{INST}}}[$__rate_interval]))",
            "{{status}}")], unit="ops"),
    ]
    return dashboard(
        "cshealth-ops", "cshealth / Operations",
        "The cshealth workers: throughput, freshness, lag, bad input, recovery and alert delivery.",
        [query_variable("instance", "Worker", 'label_values(up{job="cshealth"}, instance)')],
        panels, [link("cshealth / Overview", "cshealth-overview")])


DASHBOARDS = {"overview.json": overview, "operations.json": operations}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
            for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the JSON files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"stale: {', '.join(stale)}; run grafana/build_dashboards.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
