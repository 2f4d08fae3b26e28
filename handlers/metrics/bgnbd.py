"""BG/NBD (Fader, Hardie & Lee 2005): a customer buys (or is active) as a Poisson process with a
gamma-distributed rate (shape r, rate alpha) and, after each transaction, drops out for good with a
beta-distributed probability (a, b). From a customer's repeat transactions x, the time of the last
one t_x and the age T (all since the first, in days) it gives:

- log_likelihood(x, t_x, T, params): what the validation fits the four parameters with;
- p_alive(x, t_x, T, params): the probability the customer has not dropped out;
- expected(h, x, t_x, T, params): expected transactions in the next h days (the model's ranking).

Pure Python (math.lgamma and a Gauss hypergeometric series): the handlers stay free of numpy.
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple


class Params(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float


def _hyp2f1(a: float, b: float, c: float, z: float) -> float:
    """Gauss 2F1(a, b; c; z) for 0 <= z < 1 by its series (z = h / (alpha + T + h) here)."""
    term = total = 1.0
    k = 0
    while k < 20_000:
        term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        k += 1
        if -1e-10 * total <= term <= 1e-10 * total:  # positive terms here: relative precision 1e-10
            break
    return total


def log_likelihood(x: int, t_x: float, T: float, p: Params) -> float:
    r, alpha, a, b = p
    head = (math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
            + math.lgamma(a + b) + math.lgamma(b + x) - math.lgamma(b) - math.lgamma(a + b + x))
    a3 = -(r + x) * math.log(alpha + T)
    if x == 0:
        return head + a3
    a4 = math.log(a) - math.log(b + x - 1) - (r + x) * math.log(alpha + t_x)
    m = max(a3, a4)
    return head + m + math.log(math.exp(a3 - m) + math.exp(a4 - m))


def _dropout_odds(x: int, t_x: float, T: float, p: Params) -> float:
    """Odds of having dropped out after the last transaction (0 before any repeat)."""
    if x == 0:
        return 0.0
    r, alpha, a, b = p
    return a / (b + x - 1) * math.exp((r + x) * math.log((alpha + T) / (alpha + t_x)))


def p_alive(x: int, t_x: float, T: float, p: Params) -> float:
    return 1.0 / (1.0 + _dropout_odds(x, t_x, T, p))


_NEW: dict[tuple, float] = {}


def expected_new(h: float, p: Params) -> float:
    """expected() for a customer with no history yet (x = t_x = T = 0), cached per parameters."""
    key = (h, *p)
    v = _NEW.get(key)
    if v is None:
        v = _NEW[key] = expected(h, 0, 0.0, 0.0, p)
    return v


# expected() by its arguments. Ticks ask for whole days, and customers share histories (one purchase
# day, or two some days apart), so a long history's ticks and quiet-stretch bounds mostly re-read
# values already computed; each computation sums a hypergeometric series of up to a few hundred
# terms. Bounded: when full, the older half goes (a pure function of its key, so forgetting changes no
# result). Not all of it: a sweep of 100,000 customers fills it several times, and emptied at once it
# would lose the values every customer reads (whole days of short histories) with the one-off ones.
_EXPECTED: dict[tuple, float] = {}
EXPECTED_CACHE = 1 << 17


def expected(h: float, x: int, t_x: float, T: float, p: Params) -> float:
    """E[transactions in (T, T + h] | x, t_x, T]."""
    key = (h, x, t_x, T, p)
    v = _EXPECTED.get(key)
    if v is None:
        if len(_EXPECTED) >= EXPECTED_CACHE:
            for old in list(itertools.islice(_EXPECTED, max(1, EXPECTED_CACHE // 2))):  # oldest first
                del _EXPECTED[old]
        v = _EXPECTED[key] = _expected(h, x, t_x, T, p)
    return v


def _expected(h: float, x: int, t_x: float, T: float, p: Params) -> float:
    r, alpha, a, b = p
    if abs(a - 1.0) < 1e-9:  # the closed form divides by a - 1; the limit is continuous there
        a = 1.0 + 1e-9
    z = h / (alpha + T + h)
    hyp = _hyp2f1(r + x, b + x, a + b + x - 1, z)
    grow = (a + b + x - 1) / (a - 1) * (1.0 - math.exp((r + x) * math.log((alpha + T) / (alpha + T + h))) * hyp)
    return max(0.0, grow / (1.0 + _dropout_odds(x, t_x, T, p)))
