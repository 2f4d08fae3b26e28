"""CDNOW ceiling: how well any score computed from a purchase history can rank who buys again.

A logistic regression on a few standardised purchase-history features is fitted to the outcomes
themselves (Newton / IRLS, pure Python) and scored out of sample by k-fold cross-validation with a
fixed fold assignment, so the run is deterministic. It is an upper reference, not a competitor: the
health score never sees the outcomes, this model is fitted on them (four folds at a time).
"""
from __future__ import annotations

import math
from datetime import date

from streams.validation import cdnow
from streams.validation.auc import auc

FEATURES = ("recency", "frequency", "T", "log_spend", "days_last_13_weeks", "recency_over_mean_gap")


def purchase_features(rows: list[cdnow.Purchase], cutoff: date = cdnow.CUTOFF) -> dict[str, list[float]]:
    """Customer (as in cdnow.events) -> FEATURES over the purchases before `cutoff` (days)."""
    per: dict[str, tuple[set[int], list[float]]] = {}
    for r in rows:
        if r.day < cutoff:
            days, amounts = per.setdefault(f"cdnow-{r.customer}", (set(), []))
            days.add(r.day.toordinal())
            amounts.append(r.amount)
    end = cutoff.toordinal()
    out = {}
    for cid, (days, amounts) in per.items():
        first, last, x = min(days), max(days), len(days) - 1
        mean_gap = (last - first) / x if x else 0.0
        recency = end - last
        out[cid] = [recency, x, end - first, math.log1p(sum(amounts)),
                    sum(1 for d in days if end - d <= 91), recency / (mean_gap + 1.0)]
    return out


def standardise(X: list[list[float]]) -> list[list[float]]:
    """Each column to mean 0, sd 1 (a constant column to 0), with a leading intercept column of 1."""
    n, p = len(X), len(X[0])
    means = [sum(row[j] for row in X) / n for j in range(p)]
    sds = [math.sqrt(sum((row[j] - means[j]) ** 2 for row in X) / n) for j in range(p)]
    return [[1.0] + [(row[j] - means[j]) / sds[j] if sds[j] else 0.0 for j in range(p)] for row in X]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _solve(A: list[list[float]], b: list[float]) -> list[float]:
    """A x = b for a symmetric positive definite A (Gaussian elimination with partial pivoting)."""
    n = len(b)
    M = [list(A[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda i: abs(M[i][c]))
        M[c], M[pivot] = M[pivot], M[c]
        for i in range(c + 1, n):
            f = M[i][c] / M[c][c]
            if f:
                for j in range(c, n + 1):
                    M[i][j] -= f * M[c][j]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):
        x[i] = (M[i][n] - sum(M[i][j] * x[j] for j in range(i + 1, n))) / M[i][i]
    return x


def fit_logistic(X: list[list[float]], y: list[bool], ridge: float = 1.0, max_iter: int = 25,
                 tol: float = 1e-8) -> list[float]:
    """Coefficients (the first column of X is the intercept) maximising the log-likelihood minus
    ridge/2 x the squared non-intercept coefficients. The small ridge keeps the fit finite when a
    feature separates the classes; on thousands of standardised rows it moves nothing else."""
    p = len(X[0])
    beta = [0.0] * p
    for _ in range(max_iter):
        grad = [0.0] * p
        hess = [[0.0] * p for _ in range(p)]
        for row, label in zip(X, y):
            mu = _sigmoid(sum(b * v for b, v in zip(beta, row)))
            w, r = mu * (1.0 - mu), (1.0 if label else 0.0) - mu
            for j in range(p):
                grad[j] += r * row[j]
                wj = w * row[j]
                hj = hess[j]
                for k in range(j, p):
                    hj[k] += wj * row[k]
        for j in range(p):
            for k in range(j):
                hess[j][k] = hess[k][j]
        for j in range(1, p):
            grad[j] -= ridge * beta[j]
            hess[j][j] += ridge
        step = _solve(hess, grad)
        beta = [b + s for b, s in zip(beta, step)]
        if max(abs(s) for s in step) < tol:
            break
    return beta


def cross_validated(X: list[list[float]], y: list[bool], folds: int = 5, **fit_args) -> list[float]:
    """Out-of-fold predicted log-odds: row i is in fold i mod `folds` and is predicted by the model
    fitted on the other folds (X standardised, with its intercept column)."""
    pred = [0.0] * len(X)
    for f in range(folds):
        train = [i for i in range(len(X)) if i % folds != f]
        beta = fit_logistic([X[i] for i in train], [y[i] for i in train], **fit_args)
        for i in range(f, len(X), folds):
            pred[i] = sum(b * v for b, v in zip(beta, X[i]))
    return pred


def cdnow_ceiling(rows: list[cdnow.Purchase], outcome: dict[str, bool], folds: int = 5) -> dict:
    """Cross-validated AUC of the logistic regression on FEATURES (customers in sorted id order, so
    the fold assignment is fixed), and each feature's coefficient in a fit on all customers."""
    feats = purchase_features(rows)
    ids = sorted(outcome)
    X = standardise([feats[c] for c in ids])
    y = [outcome[c] for c in ids]
    pred = cross_validated(X, y, folds)
    beta = fit_logistic(X, y)
    return {"features": list(FEATURES), "folds": folds, "cv_auc": auc(pred, y),
            "coefficients": {name: round(b, 3) for name, b in zip(("intercept",) + FEATURES, beta)}}
