"""Ranks, percentiles and folds of target languages: the few helpers every layer shares (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (``scipy.stats.rankdata(method="average")``)."""
    a = np.asarray(values, dtype=float)
    n = len(a)
    if n == 0:
        return np.zeros(0)
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    # runs of equal values: each gets the mean of the positions it spans
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], n]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(n)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Within-query percentile of each score: 1 for the best, 0 for the worst (ties averaged)."""
    n = len(scores)
    if n < 2:
        return np.ones(n)
    return (rankdata(scores) - 1.0) / (n - 1)


def language_folds(languages: Sequence[str], k: int, seed: int | None = None) -> dict[str, int]:
    """Each distinct language to one of ``k`` folds, balanced and deterministic.

    ``seed=None`` deals the sorted languages round-robin; a seed deals them in a seeded random order.
    """
    distinct = sorted(set(languages))
    order = range(len(distinct)) if seed is None else np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[j]: i % k for i, j in enumerate(order)}


__all__ = ["rankdata", "percentiles", "language_folds"]
