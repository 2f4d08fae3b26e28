"""Health score: weighted mean of known component scores, with per-component contributions.

A component with no data is unknown (score None): its weight is spread over the
known ones, and the result says how many components it rests on.
"""
from __future__ import annotations

from handlers.config import COMPONENTS, HealthConfig

LABELS = {
    "nps": "NPS", "csat": "CSAT", "ces": "effort (CES)", "sentiment": "social sentiment",
    "support": "support load", "engagement": "contact frequency", "revenue": "revenue retention",
    "lifecycle": "lifecycle", "silence": "silence",
}


class Component:
    """One input to the score. drift says how it may move on days without new data:
    None (constant between change days), ("decay", half_life, amplitude): moves monotonically
    toward 50 by at most amplitude * (1 - 0.5 ** (days / half_life)), or ("linear", points_per_day)."""
    __slots__ = ("score", "value", "note", "drift")

    def __init__(self, score: float | None, value: dict, note: str | tuple = "", drift: tuple | None = None):
        # note may be (format, args): formatted only when a breakdown is shown (hot path stays cheap).
        self.score = None if score is None else min(100.0, max(0.0, score))
        self.value = value
        self.note = note
        self.drift = drift



    @property
    def text(self) -> str:
        return self.note if isinstance(self.note, str) else self.note[0].format(*self.note[1])


def unknown(note: str | tuple = "no data", **value) -> Component:
    return Component(None, value, note)


def shrunk(num: float, den: float, prior: float) -> float:
    """(num + prior*50) / (den + prior): a weighted mean pulled toward neutral 50."""
    return (num + prior * 50.0) / (den + prior)


def combine(components: dict[str, Component], config: HealthConfig) -> tuple[float | None, dict[str, float]]:
    """(score, contribution per known component); score None when nothing is known."""
    weights = config.weights
    known = [(n, getattr(weights, n)) for n in COMPONENTS if components[n].score is not None and getattr(weights, n) > 0]
    total = sum(w for _, w in known)
    if not total:
        return None, {}
    contrib = {n: w / total * components[n].score for n, w in known}
    return sum(contrib.values()), contrib


def health_dict(components: dict[str, Component], score: float | None, contrib: dict[str, float],
                band: str | None, config: HealthConfig) -> dict:
    weights = config.weights
    total = sum(getattr(weights, n) for n in contrib)
    comps = {}
    for n in COMPONENTS:  # every snapshot builds this: kept to one pass and no repeated lookups
        c = components[n]
        w = getattr(weights, n)
        part = contrib.get(n)
        note = c.note
        value = c.value
        comps[n] = {
            "score": None if c.score is None else round(c.score, 1),
            "weight": w,
            "effective_weight": 0.0 if part is None else round(w / total, 4),
            "contribution": None if part is None else round(part, 2),
            "note": note if note.__class__ is str else note[0].format(*note[1]),
            "value": {k: round(v, 3) if v.__class__ is float else v for k, v in value.items()} if value else {},
        }
    return {
        "score": None if score is None else round(score, 1),
        "band": band,
        "components": comps,
        "rests_on": len(contrib),
        "unknown": [n for n in COMPONENTS if n not in contrib],
        "config_version": config.version,
    }


def breakdown(health: dict) -> dict:
    """The compact score breakdown carried in alert evidence."""
    comps = {n: {k: c[k] for k in ("score", "contribution", "note")} for n, c in health["components"].items()}
    return {**{k: health[k] for k in ("score", "band", "rests_on", "unknown", "config_version")}, "components": comps}


def attribute(before: float, before_scores: dict[str, float], after_scores: dict[str, float],
              config: HealthConfig) -> dict[str, float]:
    """Split (after - before) exactly over components (W = total weight of known components now):
    known both times: w * (s' - s) / W; newly known: w * (s' - before) / W (it pulls toward its
    score); no longer known: -w * (s - before) / W (its pull goes away)."""
    total = sum(getattr(config.weights, n) for n in after_scores)
    if not total:
        return {}
    parts = {}
    for n in COMPONENTS:
        w = getattr(config.weights, n)
        if n in after_scores and n in before_scores:
            parts[n] = w * (after_scores[n] - before_scores[n]) / total
        elif n in after_scores:
            parts[n] = w * (after_scores[n] - before) / total
        elif n in before_scores:
            parts[n] = -w * (before_scores[n] - before) / total
    return parts


def explain(delta: float, parts: dict[str, float], notes: dict[str, str], initial: bool = False) -> tuple[str, dict]:
    """"-12.0 = NPS -8.1 (…), support load -3.9 (…)": the per-component share of the change."""
    parts = {n: round(v, 1) for n, v in parts.items() if abs(v) >= 0.05}
    ordered = sorted(parts.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    text = ", ".join(f"{LABELS[n]} {v:+.1f}" + (f" ({notes[n]})" if notes.get(n) else "") for n, v in ordered)
    return f"{delta:+.1f} = {'initial score: ' if initial else ''}{text or 'no component change'}", parts
