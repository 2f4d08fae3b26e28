"""Maximum-likelihood BG/NBD fit (pure Python Nelder-Mead on log parameters).

Customers are grouped by (x, t_x, T), so the likelihood costs one evaluation per distinct history.
"""
from __future__ import annotations

import math
from collections import Counter

from handlers.metrics.bgnbd import Params, log_likelihood


def fit(histories: list[tuple[int, float, float]], start: Params = Params(0.5, 10.0, 0.8, 2.5),
        max_iter: int = 800) -> Params:
    """Parameters maximising the summed log-likelihood of (x, t_x, T) histories (days)."""
    groups = Counter(histories)

    def cost(logp: list[float]) -> float:
        if any(abs(v) > 12 for v in logp):
            return math.inf
        p = Params(*(math.exp(v) for v in logp))
        return -sum(n * log_likelihood(x, t_x, T, p) for (x, t_x, T), n in groups.items())

    best = _nelder_mead(cost, [math.log(v) for v in start], max_iter)
    return Params(*(math.exp(v) for v in best))


def _nelder_mead(f, x0: list[float], max_iter: int, step: float = 0.5, tol: float = 1e-9) -> list[float]:
    n = len(x0)
    simplex = [list(x0)] + [[x0[j] + (step if j == i else 0.0) for j in range(n)] for i in range(n)]
    values = [f(p) for p in simplex]
    for _ in range(max_iter):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if abs(values[-1] - values[0]) <= tol * (1.0 + abs(values[0])):
            break
        centre = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]

        def towards(k: float) -> list[float]:
            return [centre[j] + k * (worst[j] - centre[j]) for j in range(n)]

        reflected = towards(-1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = towards(-2.0)
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = towards(0.5)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink toward the best point
                for i in range(1, n + 1):
                    simplex[i] = [simplex[0][j] + 0.5 * (simplex[i][j] - simplex[0][j]) for j in range(n)]
                    values[i] = f(simplex[i])
    return simplex[min(range(n + 1), key=values.__getitem__)]
