"""What stepstone believes about one target language's unmeasured cells: a Gaussian over their scores.

For one target language, the cells are its candidate sources. The belief about their measured
values is a multivariate normal:

* **mean** — the predicted gain of each cell, put in the ranker's order (``rank_aligned``): the
  ranker decides which cell is better, the gain model how far apart they are;
* **spread** — each cell's standard deviation from the calibrated gain interval
  (``Calibration.intervals``: ``σ = (high − low) / (2 z)``, ``z`` the normal quantile of the
  interval's level), so recalibrated intervals flow straight into the plan;
* **correlation** — errors are shared: a share ``SHARED`` of the variance is common to every cell
  of the language (the model misjudges a language as a whole), and the rest is correlated between
  sources whose languages are close (``exp(−distance / LENGTH)``, the mean URIEL distance between
  the two source languages, for sources of the same task).

Measured cells condition the belief (``observe``): a cell that did worse than predicted lowers
the prediction of its neighbours. When the baseline is unknown (nothing of the language is
measured), ``offset_variance`` adds a broad unknown offset common to all cells, so that only
differences between cells matter until the first measurement fixes the level.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

# Share of the error common to a language's cells, and the length scale of the closeness term.
# Set by comparing a few values in the simulation of bench/plan.py (SHARED 0.2–0.5, LENGTH
# 0.3–1.0 give curves within 0.3 points of each other); not fitted per model.
SHARED = 0.5
LENGTH = 0.3
_ERF = np.vectorize(math.erf, otypes=[float])


def normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _ERF(np.asarray(z, dtype=float) / math.sqrt(2.0)))


def normal_pdf(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def sigma_from_interval(low: np.ndarray, high: np.ndarray, level: float) -> np.ndarray:
    """Standard deviation of a normal whose central ``level`` interval is as wide as ``high − low``."""
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / (2.0 * z)


def rank_aligned(order_scores: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """The predicted gains, sorted, handed out in the order of ``order_scores`` (best score → best gain)."""
    gains = np.asarray(gains, dtype=float)
    out = np.full(len(gains), np.nan)
    finite = np.isfinite(gains)
    if not finite.any():
        return out
    ranked = np.argsort(-np.asarray(order_scores, dtype=float)[finite], kind="stable")
    out_idx = np.flatnonzero(finite)[ranked]
    # A hair of decrease per place keeps the ranker's order where the trees predict equal gains.
    out[out_idx] = np.sort(gains[finite])[::-1] - 1e-6 * np.arange(len(out_idx))
    return out


def correlation(distance: np.ndarray, same_task: np.ndarray, shared: float = SHARED,
                length: float = LENGTH) -> np.ndarray:
    """(n, n) correlation of cell errors from the (n, n) source-language distances and same-task mask."""
    d = np.nan_to_num(np.asarray(distance, dtype=float), nan=1.0)
    local = np.where(same_task, np.exp(-d / length), 0.0)
    corr = shared + (1.0 - shared) * local
    np.fill_diagonal(corr, 1.0)
    return corr


class Belief:
    """A normal belief over the scores of one language's cells (points, or gains over the baseline).

    ``mean``: (n,), ``sigma``: (n,), ``corr``: (n, n). ``measured`` marks the observed cells, whose
    values are in ``value``; ``best`` is the best observed value (−inf before any).
    """

    def __init__(self, mean: np.ndarray, sigma: np.ndarray, corr: np.ndarray, *,
                 offset_variance: float = 0.0) -> None:
        self.mean = np.asarray(mean, dtype=float).copy()
        s = np.asarray(sigma, dtype=float)
        self.cov = corr * np.outer(s, s) + offset_variance
        self.measured = np.zeros(len(self.mean), dtype=bool)
        self.value = np.full(len(self.mean), np.nan)

    @property
    def best(self) -> float:
        return float(self.value[self.measured].max()) if self.measured.any() else -math.inf

    def observe(self, index: int, value: float) -> None:
        """Condition on one measured cell (a rank-one Gaussian update)."""
        var = self.cov[index, index]
        self.measured[index] = True
        self.value[index] = value
        if var <= 1e-12:
            self.mean[index] = value
            return
        k = self.cov[:, index] / var
        self.mean = self.mean + k * (value - self.mean[index])
        self.cov = self.cov - np.outer(k, self.cov[index])
        self.mean[index] = value
        self.cov[index, :] = 0.0
        self.cov[:, index] = 0.0

    def std(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def expected_improvement(self, reference: float | None = None) -> np.ndarray:
        """E[max(Y_c − ref, 0)] per cell, ``ref`` the best observed value (or ``reference`` if higher).

        Before anything is observed and without a reference, the expectation is unbounded: the
        predicted mean stands in for it (the first measurement goes to the cell predicted best).
        """
        ref = max(self.best, -math.inf if reference is None else reference)
        sd = self.std()
        if not math.isfinite(ref):
            return self.mean.copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (self.mean - ref) / sd
            ei = (self.mean - ref) * normal_cdf(z) + sd * normal_pdf(z)
        ei = np.where(sd > 1e-9, ei, np.maximum(self.mean - ref, 0.0))
        ei[self.measured] = 0.0
        return ei

    def probability_better(self, reference: float | None = None) -> np.ndarray:
        """P(Y_c > ref): the chance that measuring the cell changes the recommendation."""
        ref = max(self.best, -math.inf if reference is None else reference)
        if not math.isfinite(ref):
            return np.where(self.measured, 0.0, 1.0)
        sd = self.std()
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(sd > 1e-9, normal_cdf((self.mean - ref) / sd), (self.mean > ref).astype(float))
        p[self.measured] = 0.0
        return p

    def samples(self, draws: int, seed: int = 0) -> np.ndarray:
        """(draws, n) joint draws of the cells' values (measured cells at their values)."""
        n = len(self.mean)
        rng = np.random.default_rng(seed)
        vals, vecs = np.linalg.eigh((self.cov + self.cov.T) / 2.0)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        return self.mean + rng.standard_normal((draws, n)) @ root.T


__all__ = ["Belief", "SHARED", "LENGTH", "correlation", "normal_cdf", "normal_pdf", "rank_aligned",
           "sigma_from_interval"]
