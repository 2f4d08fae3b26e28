"""Tiny deterministic lexicon sentiment for mentions that carry only `text`.

compound = s / sqrt(s*s + 15), s = (+1 per positive word, -1 per negative word,
sign flipped when one of the previous two tokens is a negator). This is the
VADER normalisation on a 40-word lexicon: crude, but stable across versions,
and a mention with an explicit `sentiment` always wins over it.
"""
from __future__ import annotations

import math
import re

POSITIVE = frozenset("""love loved great excellent awesome amazing good happy recommend fast helpful thanks
thank best fantastic reliable easy smooth perfect wonderful""".split())
NEGATIVE = frozenset("""hate hated terrible awful bad worst broken slow bug buggy outage down cancel cancelling
refund angry useless disappointed disappointing scam poor fail failed failing crash crashed unusable
lost""".split())
NEGATORS = frozenset("not no never don't doesn't isn't wasn't can't won't nothing hardly".split())
_TOKEN = re.compile(r"[a-z']+")


def sentiment(text: str) -> float:
    tokens = _TOKEN.findall(text.lower()[:20_000])
    s = 0
    for i, tok in enumerate(tokens):
        polarity = 1 if tok in POSITIVE else -1 if tok in NEGATIVE else 0
        if polarity and any(t in NEGATORS for t in tokens[max(0, i - 2):i]):
            polarity = -polarity
        s += polarity
    return round(s / math.sqrt(s * s + 15), 4)
