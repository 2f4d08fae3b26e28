"""What each folded event and each evaluation adds to the Prometheus counters (additive, bounded labels)."""
from __future__ import annotations

from handlers.customer import Outputs
from handlers.events import Event
from handlers.metrics.lifecycle import field as profile_field
from handlers.state import CustomerState
from streams.telemetry.metrics import Metrics, segment_label

NEGATIVE_SENTIMENT = -0.05


def survey_category(kind: str, score: int) -> str:
    if kind == "nps":
        return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    if kind == "csat":
        return "satisfied" if score >= 4 else "neutral" if score == 3 else "unsatisfied"
    return "high_effort" if score <= 3 else "neutral" if score == 4 else "low_effort"  # ces 1-7: 7 = very easy


def observe_event(metrics: Metrics, event: Event, state: CustomerState) -> None:
    segment = segment_label(profile_field(state, "segment"))
    kind = event.kind
    if kind == "survey":
        metrics.survey_responses.labels(event.survey_kind, segment, survey_category(event.survey_kind, event.score)).inc()
    elif kind == "purchase":
        metrics.revenue.labels(segment, event.purchase_kind).inc(event.amount)
    elif kind == "mention" and event.sentiment is not None and event.sentiment <= NEGATIVE_SENTIMENT:
        metrics.negative_mentions.labels(segment).inc()


def observe_employee_survey(metrics: Metrics, event: Event) -> None:
    """eNPS is company-wide: counted, never folded into a customer's state."""
    if event.survey_kind == "nps":
        metrics.survey_responses.labels("enps", "other", survey_category("nps", event.score)).inc()


def observe_outputs(metrics: Metrics, outputs: Outputs) -> None:
    for change in outputs.health_changes:
        delta = change.get("delta") or 0
        if delta:
            metrics.score_changes.labels("up" if delta > 0 else "down").inc()
        previous, band = change.get("previous_band"), change.get("band")
        if band and previous and band != previous:
            metrics.band_transitions.labels(previous, band).inc()
    for alert in outputs.alerts:
        metrics.alerts.labels(alert["rule"], alert["severity"], alert["status"]).inc()
