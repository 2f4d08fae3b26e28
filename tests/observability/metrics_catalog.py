"""The worker's Prometheus metrics, as agreed (DESIGN.md and the metrics brief).

Dashboards, recording rules and promtool test inputs are checked against this
catalogue, so a typo in a metric, label or label value fails a test instead of
drawing an empty panel. An end-to-end test can also compare a live /metrics
page with it. Change it together with the worker's exporter.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

TOPICS = ("cs.purchases", "cs.surveys", "cs.tickets", "cs.mentions", "cs.interactions", "cs.accounts", "other")
REASONS = ("too_large", "not_json", "not_object", "unknown_kind", "missing_field", "invalid_field")
SEGMENTS = ("enterprise", "mid_market", "smb", "other")
BANDS = ("green", "yellow", "red", "unknown")
ALERT_RULES = ("entered_red", "score_drop", "detractor", "negative_mention_spike",
               "recurring_issue", "silence", "cancellation")
SEVERITIES = ("critical", "warning")
SURVEY_CATEGORIES = {
    "nps": ("promoter", "passive", "detractor"),
    "enps": ("promoter", "passive", "detractor"),
    "csat": ("satisfied", "neutral", "unsatisfied"),
    "ces": ("low_effort", "neutral", "high_effort"),
}
REVENUE_KINDS = ("new", "repeat", "renewal", "expansion", "contraction", "refund")

#: Labels Prometheus adds when scraping; every worker metric carries them.
SCRAPE_LABELS = frozenset({"job", "instance"})


@dataclass(frozen=True)
class Metric:
    name: str            # family name as in the brief (histograms without suffix)
    type: str            # counter | gauge | histogram
    labels: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    # label -> allowed values; None = unbounded but still bounded in practice
    # (partition numbers).

    def series_names(self) -> tuple[str, ...]:
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


_survey_kinds = tuple(SURVEY_CATEGORIES)
_survey_categories = tuple(dict.fromkeys(c for cs in SURVEY_CATEGORIES.values() for c in cs))

METRICS: tuple[Metric, ...] = (
    # counters
    Metric("cshealth_events_consumed_total", "counter", {"topic": TOPICS}),
    Metric("cshealth_events_rejected_total", "counter", {"topic": TOPICS, "reason": REASONS}),
    Metric("cshealth_events_duplicate_total", "counter", {"topic": TOPICS}),
    Metric("cshealth_events_late_total", "counter", {"topic": TOPICS}),
    Metric("cshealth_dlq_records_total", "counter", {"topic": TOPICS}),
    Metric("cshealth_score_changes_total", "counter", {"direction": ("up", "down")}),
    Metric("cshealth_band_transitions_total", "counter", {"from_band": BANDS, "to_band": BANDS}),
    Metric("cshealth_alerts_total", "counter",
           {"rule": ALERT_RULES, "severity": SEVERITIES, "status": ("firing", "resolved")}),
    Metric("cshealth_survey_responses_total", "counter",
           {"kind": _survey_kinds, "segment": SEGMENTS, "category": _survey_categories}),
    Metric("cshealth_negative_mentions_total", "counter", {"segment": SEGMENTS}),
    Metric("cshealth_revenue_total", "counter", {"segment": SEGMENTS, "kind": REVENUE_KINDS}),
    Metric("cshealth_rebalances_total", "counter"),
    Metric("cshealth_input_rewinds_total", "counter"),
    Metric("cshealth_alertmanager_posts_total", "counter", {"outcome": ("ok", "error")}),
    # gauges
    Metric("cshealth_alertmanager_pending_alerts", "gauge"),
    Metric("cshealth_customers", "gauge", {"band": BANDS, "segment": SEGMENTS}),
    Metric("cshealth_consumer_lag", "gauge", {"topic": TOPICS, "partition": None}),
    Metric("cshealth_assigned_partitions", "gauge"),
    Metric("cshealth_recovery_complete", "gauge"),
    Metric("cshealth_event_time_watermark_seconds", "gauge"),
    Metric("cshealth_event_time_effective_watermark_seconds", "gauge"),
    # histograms
    Metric("cshealth_event_age_seconds", "histogram", {"topic": TOPICS}),
    Metric("cshealth_processing_seconds", "histogram"),
    Metric("cshealth_gc_pause_seconds", "histogram", {"collection": ("young", "full")}),
    Metric("cshealth_health_score", "histogram", {"segment": SEGMENTS}),
)

#: Series Prometheus itself creates for the scrape job.
PROMETHEUS_SERIES = {"up": Metric("up", "gauge", {})}

BY_FAMILY = {m.name: m for m in METRICS}


def series_labels(series_name: str) -> dict[str, tuple[str, ...] | None] | None:
    """Labels (with allowed values) of an exposed series name, scrape labels
    included; None if the name is not a worker or Prometheus series."""
    if series_name in PROMETHEUS_SERIES:
        return {"job": None, "instance": None}
    for m in METRICS:
        if series_name in m.series_names():
            labels: dict[str, tuple[str, ...] | None] = dict(m.labels)
            labels.update({lbl: None for lbl in SCRAPE_LABELS})
            if series_name.endswith("_bucket") and m.type == "histogram":
                labels["le"] = None
            return labels
    return None


def known_series() -> set[str]:
    names = set(PROMETHEUS_SERIES)
    for m in METRICS:
        names.update(m.series_names())
    return names


def valid_label_combination(metric: str, labels: dict[str, str]) -> bool:
    """Cross-label rules the flat catalogue cannot express."""
    if metric == "cshealth_survey_responses_total" and "kind" in labels and "category" in labels:
        return labels["category"] in SURVEY_CATEGORIES.get(labels["kind"], ())
    return True


# ------------------------------------------------------------ PromQL names
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENT = re.compile(r"(?<![\w:.])[A-Za-z_:][\w:]*")
_SELECTOR = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')')
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
             "group_right", "bool", "offset", "inf", "nan", "atan2"}


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (a regex-level parse:
    good for our own queries, not a general PromQL parser)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word = m.group(0)
        rest = text[m.end():].lstrip()
        if rest.startswith("("):
            continue  # function or aggregation
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def selectors(expr: str) -> list[Selector]:
    """Vector selectors with label matchers, e.g. up{job="cshealth"}."""
    out = []
    for m in _SELECTOR.finditer(expr):
        matchers = tuple((lm.group(1), lm.group(2), _unquote(lm.group(3)))
                         for lm in _MATCHER.finditer(m.group(2)))
        out.append(Selector(m.group(1), matchers))
    return out


# ------------------------------------------------------- synthetic series
def synthetic_series(instances=("w1:6066", "w2:6066"), partitions=("0", "1")):
    """One series per valid label combination of every metric, as promtool
    input_series dicts {"series": ..., "kind": counter|gauge|bucket, "le": ...}.
    Used to check that every dashboard query returns data."""
    out = []
    for m in METRICS:
        names = list(m.labels)
        domains = [m.labels[n] if m.labels[n] is not None else partitions for n in names]
        for combo in itertools.product(*domains):
            labels = dict(zip(names, combo))
            if not valid_label_combination(m.name, labels):
                continue
            if m.name == "cshealth_band_transitions_total" and labels["from_band"] == labels["to_band"]:
                continue
            for inst in instances:
                base = {"job": "cshealth", "instance": inst, **labels}
                if m.type == "histogram":
                    for le in _BUCKETS[m.name]:
                        out.append({"name": f"{m.name}_bucket", "labels": {**base, "le": le},
                                    "kind": "bucket", "le": le})
                    out.append({"name": f"{m.name}_count", "labels": base, "kind": "count"})
                    out.append({"name": f"{m.name}_sum", "labels": base, "kind": "sum"})
                else:
                    out.append({"name": m.name, "labels": base, "kind": m.type})
    for inst in instances:
        out.append({"name": "up", "labels": {"job": "cshealth", "instance": inst}, "kind": "up"})
    return out


_BUCKETS = {
    "cshealth_event_age_seconds": ("0.05", "0.1", "0.5", "1", "5", "10", "30", "60", "300",
                                   "900", "3600", "+Inf"),
    "cshealth_processing_seconds": ("0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "+Inf"),
    "cshealth_gc_pause_seconds": ("0.001", "0.01", "0.1", "0.5", "1", "5", "+Inf"),
    "cshealth_health_score": ("10", "20", "30", "40", "50", "60", "70", "80", "90", "100", "+Inf"),
}


def series_selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}"


# ------------------------------------------------------------ query checks
def recorded_labels(rule_name: str) -> dict[str, tuple[str, ...] | None]:
    """Labels of a recording rule's series, read from its level
    (level:metric:operations; level "cshealth" = no labels, else the kept
    labels joined by "_"). Values come from the source metric when known."""
    level, metric, _ops = rule_name.split(":")
    if level == "cshealth":
        return {}
    source = BY_FAMILY.get(metric) or BY_FAMILY.get(metric + "_total")
    out: dict[str, tuple[str, ...] | None] = {}
    for label in level.split("_"):
        out[label] = source.labels.get(label) if source else None
    return out


def query_problems(expr: str, recorded: set[str]) -> list[str]:
    """Metric names, label names and literal label values in a PromQL query
    that match neither the catalogue nor a recording rule."""
    problems = []
    known = known_series()
    for name in sorted(metric_names(expr)):
        if name not in known and name not in recorded:
            problems.append(f"unknown metric {name!r}")
    for sel in selectors(expr):
        if sel.metric is None:
            problems.append("selector without a metric name")
            continue
        if sel.metric in recorded:
            labels = recorded_labels(sel.metric)
        else:
            labels = series_labels(sel.metric)
            if labels is None:
                continue  # already reported as unknown
        for label, op, value in sel.matchers:
            if label not in labels:
                problems.append(f"{sel.metric} has no label {label!r}")
                continue
            allowed = labels[label]
            if op == "=" and allowed is not None and "$" not in value and value not in allowed:
                problems.append(f"{sel.metric}{{{label}={value!r}}}: not one of {allowed}")
    return problems
