"""Health score: weighted mean of component scores, each standing at its prior until evidence moves it.

Every component has a configured neutral prior (priors.*) and keeps its weight whether it is known
or not: an unknown component counts at its prior, so a customer with no evidence sits at the
weighted prior, and a component that becomes known moves the score in its own direction (one reading
above its prior never lowers the score). The explanation of a change is the exact split
w * (s' - s) / W per component (s = the prior while unknown), so no part can argue against its
component's move.

Every score carries an interval: each component has a standard deviation (prior_sd while unknown,
shrinking as evidence accrues), combined as independent errors: sd = sqrt(sum((w/W * sd_i)^2)).
"""
from __future__ import annotations

import functools
import math
from statistics import NormalDist

from handlers.config import COMPONENTS, HealthConfig

LABELS = {
    "nps": "NPS", "csat": "CSAT", "ces": "effort (CES)", "sentiment": "social sentiment",
    "support": "support load", "engagement": "contact frequency", "revenue": "revenue retention",
    "lifecycle": "lifecycle", "silence": "activity", "purchases": "purchases",
}


class Component:
    """One input to the score.

    drift says how it may move on days without new data: None (constant between change days);
    ("decay", half_life, amplitude): monotonically toward its prior by at most
    amplitude * (1 - 0.5 ** (days / half_life)); ("linear", points_per_day); ("at", fn): fn(k) is the
    score k quiet days later, monotone in k. evidence is the amount of evidence (shrinks sd: see
    sd_of); latest the day of the newest evidence, and drift_note what the component says when it
    moved without new evidence (decay, a window emptying), so a fading reading names itself."""
    __slots__ = ("score", "value", "note", "drift", "evidence", "latest", "drift_note")

    def __init__(self, score: float | None, value: dict, note: str | tuple = "", drift: tuple | None = None,
                 evidence: float | None = None, latest: int | None = None, drift_note: str | tuple | None = None):
        # note may be (format, args): formatted only when a breakdown is shown (hot path stays cheap).
        self.score = None if score is None else min(100.0, max(0.0, score))
        self.value = value
        self.note = note
        self.drift = drift
        self.evidence = evidence
        self.latest = latest
        self.drift_note = drift_note

    @property
    def text(self) -> str:
        return _text(self.note)

    def why(self, since_day: int | None) -> str:
        """Its note for a move since since_day: the drift note when no evidence came since."""
        if (since_day is not None and self.drift_note is not None and self.latest is not None
                and self.latest <= since_day):
            return _text(self.drift_note)
        return self.text


def _text(note) -> str:
    return note if note.__class__ is str else note[0].format(*note[1])


def unknown(note: str | tuple = "no data", **value) -> Component:
    return Component(None, value, note)


def shrunk(num: float, den: float, prior_n: float, prior: float = 50.0) -> float:
    """(num + prior_n*prior) / (den + prior_n): a weighted mean pulled toward the prior."""
    return (num + prior_n * prior) / (den + prior_n)


def relative(value: float, baseline: float, prior: float) -> float:
    """0-100 reading of a positive figure against what a customer without evidence would show:
    value == baseline reads the prior; it never saturates (ranking keeps its order)."""
    if value <= 0:
        return 0.0
    k = (100.0 - prior) / prior if prior > 0 else 1e9
    return 100.0 * value / (value + k * baseline)


def prior(config: HealthConfig, name: str) -> float:
    return getattr(config.priors, name)


def _per_config(build):
    """Memoise build(config) by config identity: configs are frozen, and these figures are read on
    every tick and every read-out. A few configs at most live at once (a reload makes a new one)."""
    cache: dict[int, tuple] = {}

    @functools.wraps(build)
    def get(config: HealthConfig):
        hit = cache.get(id(config))
        if hit is not None and hit[0] is config:
            return hit[1]
        value = build(config)
        if len(cache) > 64:
            cache.clear()
        cache[id(config)] = (config, value)
        return value
    return get


@_per_config
def _weights(config: HealthConfig) -> tuple[list[tuple[str, float]], float]:
    """The weighted components and their total."""
    w = config.weights
    used = [(n, getattr(w, n)) for n in COMPONENTS if getattr(w, n) > 0]
    return used, sum(x for _, x in used)


@_per_config
def _sd_terms(config: HealthConfig) -> tuple[list[tuple[str, float, float]], float, float]:
    """([(component, w / W, n0)] of the weighted components, prior_sd, z of the interval)."""
    used, total = _weights(config)
    return ([(n, w / total, getattr(config.evidence, n)) for n, w in used], config.uncertainty.prior_sd,
            z_of(config))


def combine(components: dict[str, Component], config: HealthConfig) -> tuple[float, dict[str, float]]:
    """(score, contribution per weighted component); unknown components contribute w * prior / W."""
    used, total = _weights(config)
    priors = config.priors
    contrib = {}
    for n, w in used:
        s = components[n].score
        contrib[n] = w / total * (getattr(priors, n) if s is None else s)
    return sum(contrib.values()), contrib


def half_width(components: dict[str, Component], config: HealthConfig) -> float:
    """Half the central interval (uncertainty.interval coverage) around the score. A component's
    sd is prior_sd * sqrt(n0 / (n0 + evidence)), prior_sd while unknown, 0 when certain."""
    terms, prior_sd, z = _sd_terms(config)
    var = 0.0
    for n, share, n0 in terms:  # every tick and read-out: the per-config figures looked up once
        c = components[n]
        evidence = c.evidence
        if c.score is None or evidence is None:
            sd = prior_sd
        elif evidence == math.inf:
            sd = 0.0
        else:
            sd = prior_sd * math.sqrt(n0 / (n0 + max(0.0, evidence)))
        var += (share * sd) ** 2
    return z * math.sqrt(var)


_Z: dict[float, float] = {}


def z_of(config: HealthConfig) -> float:
    cov = config.uncertainty.interval
    z = _Z.get(cov)
    if z is None:
        z = _Z[cov] = NormalDist().inv_cdf(0.5 + cov / 2)
    return z


@_per_config
def _fixed(config: HealthConfig) -> list[tuple[str, float, float, float]]:
    """(component, prior, weight, effective weight) in COMPONENTS order: what every read-out repeats."""
    _, total = _weights(config)
    return [(n, getattr(config.priors, n), getattr(config.weights, n), round(getattr(config.weights, n) / total, 4))
            for n in COMPONENTS]


@_per_config
def overall_prior(config: HealthConfig) -> float:
    """The score of a customer with no evidence (every health read-out shows it)."""
    used, total = _weights(config)
    return sum(w * prior(config, n) for n, w in used) / total


def interval(score: float, half: float) -> list[float]:
    return [round(max(0.0, score - half), 1), round(min(100.0, score + half), 1)]


def health_dict(components: dict[str, Component], score: float | None, contrib: dict[str, float],
                band: str | None, config: HealthConfig) -> dict:
    comps = {}
    known = 0
    unknown_names = []
    for n, p, w, effective in _fixed(config):  # every snapshot builds this: one pass, no repeated lookups
        c = components[n]
        part = contrib.get(n)
        note = c.note
        value = c.value
        if c.score is None:
            unknown_names.append(n)
        elif w > 0:
            known += 1
        comps[n] = {
            "score": None if c.score is None else round(c.score, 1),
            "prior": p,
            "weight": w,
            "effective_weight": effective,
            "contribution": None if part is None else round(part, 2),
            "note": note if note.__class__ is str else note[0].format(*note[1]),
            "value": {k: round(v, 3) if v.__class__ is float else v for k, v in value.items()} if value else {},
        }
    half = half_width(components, config) if score is not None else None
    return {
        "score": None if score is None else round(score, 1),
        "interval": None if score is None else interval(score, half),
        "prior": round(overall_prior(config), 1),
        "band": band,
        "components": comps,
        "rests_on": known,
        "unknown": unknown_names,
        "config_version": config.version,
    }


BRIEF = ("score", "interval", "band", "rests_on", "unknown", "config_version")


def breakdown(health: dict) -> dict:
    """The compact score breakdown carried in alert evidence."""
    comps = {n: {k: c[k] for k in ("score", "contribution", "note")} for n, c in health["components"].items()}
    return {**{k: health.get(k) for k in BRIEF}, "components": comps}


def brief(components: dict[str, Component], score: float, half: float, contrib: dict[str, float],
          band: str | None, config: HealthConfig) -> dict:
    """breakdown(health_dict(...)) without the full read-out: an alert carries only this, and a
    sparse history raises far more alerts (silence firing and resolving) than health changes."""
    comps = {}
    known = 0
    unknown_names = []
    for n, _, w, _ in _fixed(config):
        c = components[n]
        part = contrib.get(n)
        note = c.note
        if c.score is None:
            unknown_names.append(n)
        elif w > 0:
            known += 1
        comps[n] = {"score": None if c.score is None else round(c.score, 1),
                    "contribution": None if part is None else round(part, 2),
                    "note": note if note.__class__ is str else note[0].format(*note[1])}
    return {"score": round(score, 1), "interval": interval(score, half), "band": band, "rests_on": known,
            "unknown": unknown_names, "config_version": config.version, "components": comps}


def attribute(before_scores: dict[str, float], after_scores: dict[str, float], config: HealthConfig) -> dict[str, float]:
    """Split the change exactly over components: w * (s' - s) / W, an unknown component at its prior.
    (Arguments: the known components' scores before and after.)"""
    used, total = _weights(config)
    priors = config.priors
    parts = {}
    for n, w in used:
        p = getattr(priors, n)
        parts[n] = w * (after_scores.get(n, p) - before_scores.get(n, p)) / total
    return parts


def explain(delta: float, parts: dict[str, float], notes: dict[str, str], initial: bool = False,
            start: float | None = None) -> tuple[str, dict]:
    """"-12.0 = NPS -8.1 (…), support load -3.9 (…)": the per-component share of the change.
    The first score is explained as its move from the prior (start)."""
    parts = {n: round(v, 1) for n, v in parts.items() if abs(v) >= 0.05}
    ordered = sorted(parts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    text = ", ".join(f"{LABELS[n]} {v:+.1f}" + (f" ({notes[n]})" if notes.get(n) else "") for n, v in ordered)
    head = f"new, from prior {start:.1f}: " if initial and start is not None else ("initial score: " if initial else "")
    return f"{delta:+.1f} = {head}{text or 'no component change'}", parts
