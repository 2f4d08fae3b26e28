"""Social mentions: negative count (sentiment <= -0.05), mean sentiment, spike vs baseline.

Bucket: day -> [mentions, sentiment_sum, negatives]. Text-only mentions are
scored by handlers/lexicon.py. mention_spike = negatives in the window divided
by the baseline negatives per window (previous `mention_baseline` days), with
the baseline floored at 1 so a first burst of 3 reads as 3.0.
"""
from __future__ import annotations

from handlers.buckets import window
from handlers.decay import aged
from handlers.events import Mention
from handlers.lexicon import sentiment as lexicon_sentiment
from handlers.score import Component, shrunk, unknown
from handlers.state import by_day
from handlers.timeutil import day_of

NEGATIVE = -0.05

CONSTANT = False


def sentiment_of(event: Mention) -> float:
    return event.sentiment if event.sentiment is not None else lexicon_sentiment(event.text)


def fold(state, event, config) -> None:
    if not isinstance(event, Mention):
        return
    s = sentiment_of(event)
    day = day_of(event.occurred_at_ms)
    b = state.mentions.get(day)
    if b is None:
        b = state.mentions[day] = [0, 0.0, 0]
    b[0] += 1
    b[1] += s
    b[2] += s <= NEGATIVE


@by_day
def figures(state, day: int, config) -> tuple[int, float, int, float]:
    """(mentions, sentiment sum, negatives) in the window and baseline negatives per window."""
    w = config.windows
    n = neg = 0
    total = 0.0
    for _, b in window(state.mentions, day, w.mentions):
        n, total, neg = n + b[0], total + b[1], neg + b[2]
    base = sum(b[2] for _, b in window(state.mentions, day, w.mention_baseline, skip=w.mentions))
    return n, total, neg, base * w.mentions / w.mention_baseline


def spike(neg: int, base: float) -> float:
    return neg / max(base, 1.0)


def read(state, as_of_ms: int, config) -> dict:
    n, total, neg, base = figures(state, day_of(as_of_ms), config)
    return {
        "mentions": n,
        "negative_mentions": neg,
        "mean_sentiment": round(total / n, 4) if n else None,
        "negative_mention_baseline": round(base, 2),
        "mention_spike": round(spike(neg, base), 2),
    }


def components(state, day: int, config) -> dict[str, Component]:
    w, u = config.windows, config.uncertainty
    rows = window(state.mentions, day, w.mentions + w.mention_baseline)
    n = sum(b[0] for _, b in rows)
    if n < u.min_responses:
        return {"sentiment": unknown(("{} mentions", (n,)), mentions=n, negative_mentions=0, baseline=0.0, spike=0.0)}
    num = den = 0.0
    for wt, b in aged(rows, day, u.sentiment_half_life_days):
        num, den = num + wt * (50.0 * b[1] + 50.0 * b[0]), den + wt * b[0]
    _, _, neg, base = figures(state, day, config)
    x = spike(neg, base)
    p = config.priors.sentiment
    decayed = shrunk(num, den, u.prior_responses, p)
    # A burst of negatives above the usual divides the reading (never below 0, never a cliff).
    score = decayed / (1.0 + config.components.spike_factor * max(0.0, x - 1.0))
    last = max(d for d, b in rows if b[0])
    if neg:
        note = ("{} negative of {} mentions this week, {:.1f}x the usual", (neg, _in_week(rows, day, w.mentions), x))
    else:
        note = ("mean sentiment {:+.2f} over {} mentions", ((decayed - p) / 50.0, n))
    return {"sentiment": Component(score, {"mentions": n, "negative_mentions": neg, "baseline": base, "spike": x},
                                   note, ("decay", u.sentiment_half_life_days, abs(decayed - p)),
                                   evidence=n, latest=last,
                                   drift_note=("no mentions for {} days: fading toward neutral", (day - last,)))}


def _in_week(rows, day: int, days: int) -> int:
    return sum(b[0] for d, b in rows if d > day - days)


def change_sources(state, config) -> list[tuple]:
    w = config.windows
    return [(state.mentions, (0, w.mentions, w.mentions + w.mention_baseline))]
