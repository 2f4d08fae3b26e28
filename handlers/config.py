"""Health configuration: one versioned TOML file loaded into frozen pydantic models.

Defaults live in handlers/health_config.toml (commented there). Summary:

| key | default | meaning |
|---|---|---|
| version | "2026.1" | stamped on every health change and alert |
| time.allowed_lateness_hours | 6 | tick for day D closes when watermark >= end of D + this |
| time.dedupe_max_ids | 512 | event ids kept per customer (plus ids newer than 2 x lateness) |
| windows.nps / satisfaction | 90 / 90 | rolling days for NPS and CSAT/CES |
| windows.contacts / contact_baseline | 30 / 90 | contact window and the trailing baseline before it |
| windows.mentions / mention_baseline | 7 / 28 | negative-mention window and its trailing baseline |
| windows.tickets / revenue / activity_baseline | 30 / 90 / 180 | ticket, revenue (NRR), activity windows |
| weights.* | nps 20, csat 10, ces 5, sentiment 10, support 15, engagement 10, revenue 10, lifecycle 10, silence 15, purchases 10 | relative weights; an unknown component keeps its weight |
| priors.* | 50 each | where an unknown component stands |
| evidence.* | see file | evidence at which a component's sd is prior_sd / sqrt(2) |
| uncertainty.min_responses | 1 | fewer responses in window: component unknown |
| uncertainty.prior_responses | 2.0 | shrink survey/sentiment components toward their prior |
| uncertainty.survey_half_life_days / sentiment_half_life_days | 45 / 7 | decay of inputs to the score |
| uncertainty.prior_sd / interval | 25 / 0.8 | sd of an unknown component; coverage of the score's interval |
| components.* | see file | scales of the (continuous) component readings |
| purchases.* / activity.* | see file | BG/NBD model and parameters of the purchases and activity (silence) components |
| bands.green_enter/green_exit/red_enter/red_exit | 68/65/48/52 | hysteresis thresholds (red on the interval's upper end) |
| bands.min_dwell_days / change_step / rise_step | 2 / 4 / 15 | dwell before a band change; fall and rise that emit a change |
| clv.expected_lifetime_years / min_tenure_days | 3.0 / 90 | predicted CLV |
| referrals.champion_min_referrals | 3 | champion threshold |
| alerts.<rule>.severity / cooldown_days / enabled | per rule | plus rule parameters (see file) |
"""
from __future__ import annotations

import functools

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

DEFAULT_PATH = Path(__file__).with_name("health_config.toml")
COMPONENTS = ("nps", "csat", "ces", "sentiment", "support", "engagement", "revenue", "lifecycle", "silence",
              "purchases")


class ConfigError(ValueError):
    """Invalid health config; str(err) is one line naming the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)




class TimeConfig(_Strict):
    allowed_lateness_hours: float = Field(6, ge=0, le=24 * 30)
    dedupe_max_ids: int = Field(512, ge=1, le=100_000)

    @property
    def lateness_ms(self) -> int:
        return int(self.allowed_lateness_hours * 3_600_000)


class Windows(_Strict):
    nps: int = Field(90, ge=1, le=3650)
    satisfaction: int = Field(90, ge=1, le=3650)
    contacts: int = Field(30, ge=1, le=3650)
    contact_baseline: int = Field(90, ge=1, le=3650)
    mentions: int = Field(7, ge=1, le=3650)
    mention_baseline: int = Field(28, ge=1, le=3650)
    tickets: int = Field(30, ge=1, le=3650)
    revenue: int = Field(90, ge=1, le=3650)
    activity_baseline: int = Field(180, ge=1, le=3650)


class Weights(_Strict):
    nps: float = Field(20, ge=0)
    csat: float = Field(10, ge=0)
    ces: float = Field(5, ge=0)
    sentiment: float = Field(10, ge=0)
    support: float = Field(15, ge=0)
    engagement: float = Field(10, ge=0)
    revenue: float = Field(10, ge=0)
    lifecycle: float = Field(10, ge=0)
    silence: float = Field(15, ge=0)
    purchases: float = Field(10, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> "Weights":
        if not any(getattr(self, c) > 0 for c in COMPONENTS):
            raise ValueError("at least one weight must be > 0")
        return self


def _per_component(name: str, doc: str, default: float, bounds: dict, **overrides: float) -> type:
    """A model with one float field per component (as strict and frozen as the rest)."""
    fields = {n: (float, Field(overrides.get(n, default), **bounds)) for n in COMPONENTS}
    return create_model(name, __base__=_Strict, __doc__=doc, **fields)


Priors = _per_component("Priors", "Neutral prior per component: where an unknown component stands.",
                        50.0, {"gt": 0, "lt": 100})
Evidence = _per_component("Evidence", "Per component, the evidence at which its sd is prior_sd / sqrt(2).",
                          2.0, {"gt": 0}, sentiment=3.0, engagement=3.0, revenue=1.0, lifecycle=1.0,
                          silence=3.0, purchases=1.0)


class Uncertainty(_Strict):
    min_responses: int = Field(1, ge=1)
    prior_responses: float = Field(2.0, ge=0)
    survey_half_life_days: float = Field(45, gt=0)
    sentiment_half_life_days: float = Field(7, gt=0)
    prior_sd: float = Field(25.0, gt=0, le=100)
    interval: float = Field(0.8, gt=0, lt=1)


class Components(_Strict):
    support_half_load: float = Field(4.0, gt=0)
    reopen_weight: float = Field(2.0, ge=0)
    recurring_weight: float = Field(4.0, ge=0)
    contact_log2_scale: float = Field(1.5, gt=0)
    spike_factor: float = Field(0.25, ge=0)
    nrr_steepness: float = Field(6.0, gt=0)
    activation_target_days: int = Field(30, ge=1)
    tenure_half_days: float = Field(30.0, gt=0)


class BgNbd(_Strict):
    """BG/NBD population parameters (days): rate ~ Gamma(r, alpha), dropout ~ Beta(a, b)."""
    model: Literal["bgnbd", "none"] = "bgnbd"
    r: float = Field(0.25, gt=0)
    alpha: float = Field(33.0, gt=0)
    a: float = Field(0.75, gt=0)
    b: float = Field(2.2, gt=0)
    horizon_days: float = Field(90.0, gt=0, le=3650)

    @functools.cached_property  # read at every tick; the model is frozen, so computed once
    def params(self):
        from handlers.metrics.bgnbd import Params
        return Params(self.r, self.alpha, self.a, self.b)


class Bands(_Strict):
    green_enter: float = Field(68.0, ge=0, le=100)
    green_exit: float = Field(65.0, ge=0, le=100)
    red_enter: float = Field(48.0, ge=0, le=100)   # on the interval's upper end
    red_exit: float = Field(52.0, ge=0, le=100)    # on the interval's upper end
    min_dwell_days: int = Field(2, ge=1, le=365)
    change_step: float = Field(4.0, gt=0, le=100)  # a fall this large emits a health change
    rise_step: float = Field(15.0, gt=0, le=100)   # a rise this large emits a health change

    @model_validator(mode="after")
    def _ordered(self) -> "Bands":
        if not self.red_enter <= self.red_exit <= self.green_exit <= self.green_enter:
            raise ValueError("bands out of order: need red_enter <= red_exit <= green_exit <= green_enter")
        return self


class Clv(_Strict):
    expected_lifetime_years: float = Field(3.0, gt=0, le=100)
    min_tenure_days: int = Field(90, ge=1)


class Referrals(_Strict):
    champion_min_referrals: int = Field(3, ge=1)


Severity = Literal["critical", "warning", "info"]


class Rule(_Strict):
    enabled: bool = True
    severity: Severity = "warning"
    cooldown_days: int = Field(7, ge=0, le=3650)


class ScoreDropRule(Rule):
    points: float = Field(20.0, gt=0, le=100)
    window_days: int = Field(14, ge=1, le=365)
    out_of_green: bool = True  # only once the fall has moved the customer out of the green band


class DetractorRule(Rule):
    max_score: int = Field(4, ge=0, le=6)  # page on NPS answers 0..max_score (all of 0-6 still count in NPS)


class SpikeRule(Rule):
    min_count: int = Field(3, ge=1)
    factor: float = Field(3.0, ge=1)


class RecurringRule(Rule):
    min_count: int = Field(3, ge=2)
    window_days: int = Field(14, ge=1, le=3650)  # the burst window
    priorities: list[str] = ["high", "urgent"]  # ticket priorities that count; empty = all


class SilenceRule(Rule):
    min_days: int = Field(28, ge=1)
    gap_multiplier: float = Field(4.0, gt=0)
    min_gaps: int = Field(6, ge=1)
    onboarding_days: int = Field(14, ge=1)   # threshold for a signed-up customer not yet activated


class Alerts(_Strict):
    entered_red: Rule = Rule(severity="critical")
    score_drop: ScoreDropRule = ScoreDropRule()
    detractor: DetractorRule = DetractorRule(cooldown_days=30)
    negative_mention_spike: SpikeRule = SpikeRule()
    recurring_issue: RecurringRule = RecurringRule(cooldown_days=14)
    silence: SilenceRule = SilenceRule(cooldown_days=14)
    cancellation: Rule = Rule(severity="critical", cooldown_days=0)


class HealthConfig(_Strict):
    version: str = Field(min_length=1, max_length=64)
    time: TimeConfig = TimeConfig()
    windows: Windows = Windows()
    weights: Weights = Weights()
    uncertainty: Uncertainty = Uncertainty()
    priors: Priors = Priors()
    evidence: Evidence = Evidence()
    components: Components = Components()
    purchases: BgNbd = BgNbd()
    activity: BgNbd = BgNbd(r=1.0, alpha=5.0, a=0.1, b=10.0, horizon_days=30.0)
    bands: Bands = Bands()
    clv: Clv = Clv()
    referrals: Referrals = Referrals()
    alerts: Alerts = Alerts()

    def horizon_days(self) -> int:
        """Days of buckets kept behind the evaluation cursor (longest look-back)."""
        w = self.windows
        return max(w.nps, w.satisfaction, w.contacts + w.contact_baseline, w.mentions + w.mention_baseline,
                   w.tickets, w.revenue, w.activity_baseline, self.alerts.score_drop.window_days,
                   self.alerts.recurring_issue.window_days) + 1


def load_config(path: str | Path | None = None) -> HealthConfig:
    """Load and validate; raises ConfigError with a one-line message on any problem."""
    p = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    return parse_config(data, source=str(p))


def parse_config(data: dict, source: str = "<config>") -> HealthConfig:
    try:
        return HealthConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {loc}: {msg}{more}") from None
