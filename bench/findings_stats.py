"""Statistics of bench/findings.py that carry seed noise: numpy only, every function deterministic.

A gain table holds one candidate's gains (score - the same seed's baseline, same config, same
language) as a seeds x languages array. Seeds and languages are crossed (every seed is evaluated in
every language), so intervals come from a two-way ("pigeonhole") bootstrap (Owen 2007): each draw
resamples the seeds and, independently, the languages with replacement, so an interval carries the
seed-to-seed variance as well as the language-to-language one. With three seeds the seed level has
only 10 distinct draws: the intervals are honest about that coarseness, not hidden by it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

DRAWS = 2000
SEED = 20260


@dataclass
class Table:
    """One candidate's gains: ``g[i, j]`` for seed ``seeds[i]`` in language ``langs[j]``."""

    seeds: list[int]
    langs: list[str]
    g: np.ndarray

    def restrict(self, seeds: list[int], langs: list[str]) -> Table:
        si = [self.seeds.index(s) for s in seeds]
        li = [self.langs.index(lang) for lang in langs]
        return Table(list(seeds), list(langs), self.g[np.ix_(si, li)])


def gain_tables(runs: list[Any]) -> dict[tuple[str, str, int | None], Table]:
    """(target, source, size) -> its gains, over the seeds and languages that have a baseline."""
    cells: dict[tuple[str, str, int | None], dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        if r.source_task != r.target_task and r.baseline_score is not None:
            size = int(r.source_size) if r.source_size else None
            cells[(r.target_task, r.source_task, size)][int(r.seed)][r.target_language] = r.score - r.baseline_score
    out = {}
    for key, by_seed in cells.items():
        seeds = sorted(by_seed)
        langs = sorted(set.intersection(*(set(v) for v in by_seed.values())))
        out[key] = Table(seeds, langs, np.array([[by_seed[s][lang] for lang in langs] for s in seeds], dtype=float))
    return out


def like_with_like(tables: dict[Any, Table]) -> tuple[dict[Any, Table], list[int], list[str]]:
    """The tables cut to the seeds and languages that every one of them has (same seeds for every candidate)."""
    seeds = sorted(set.intersection(*(set(t.seeds) for t in tables.values())))
    langs = sorted(set.intersection(*(set(t.langs) for t in tables.values())))
    return {k: t.restrict(seeds, langs) for k, t in tables.items()}, seeds, langs


def _draws(n_seeds: int, n_langs: int, draws: int = DRAWS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return rng.integers(0, n_seeds, (draws, n_seeds)), rng.integers(0, n_langs, (draws, n_langs))


def boot_mean(g: np.ndarray, draws: int = DRAWS) -> tuple[float, float, float]:
    """Mean gain and its 95% two-way bootstrap interval (seeds and languages resampled)."""
    si, li = _draws(*g.shape, draws)
    means = np.array([g[np.ix_(s, lang)].mean() for s, lang in zip(si, li, strict=True)])
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(g.mean()), float(lo), float(hi)


def boot_diff(a: np.ndarray, b: np.ndarray, draws: int = DRAWS) -> tuple[float, float, float]:
    """Mean of ``a - b`` (same seeds, same languages) with the paired two-way bootstrap interval."""
    return boot_mean(a - b, draws)


def boot_groups(parts: list[np.ndarray], weights: list[float], draws: int = DRAWS) -> tuple[float, float, float]:
    """A weighted sum of group means (groups of languages, the same seeds): sum_k w_k mean(parts[k]),
    languages resampled within each group, seeds resampled once for all groups."""
    n_seeds = parts[0].shape[0]
    rng = np.random.default_rng(SEED)
    values = []
    for _ in range(draws):
        s = rng.integers(0, n_seeds, n_seeds)
        values.append(
            sum(
                w * p[s][:, rng.integers(0, p.shape[1], p.shape[1])].mean() for p, w in zip(parts, weights, strict=True)
            )
        )
    lo, hi = np.percentile(values, [2.5, 97.5])
    point = sum(w * p.mean() for p, w in zip(parts, weights, strict=True))
    return float(point), float(lo), float(hi)


def seed_sd(g: np.ndarray) -> float:
    """Standard deviation over seeds of the mean gain over languages: the seed noise of one mean."""
    return float(g.mean(axis=1).std(ddof=1)) if g.shape[0] > 1 else math.nan


def seed_corr(g: np.ndarray) -> tuple[float, float, float]:
    """Pearson correlation across languages of two seeds' gains: mean, min and max over seed pairs."""
    rs = [float(np.corrcoef(g[i], g[j])[0, 1]) for i in range(len(g)) for j in range(i + 1, len(g))]
    rs = [r for r in rs if math.isfinite(r)]
    return (float(np.mean(rs)), float(min(rs)), float(max(rs))) if rs else (math.nan, math.nan, math.nan)


def icc(g: np.ndarray) -> float:
    """ICC(1): the share of a gain's variance that is the language's own (between languages), the
    rest being seed noise within a language (one-way random effects, seeds as replicates)."""
    k, n = g.shape
    if k < 2 or n < 2:
        return math.nan
    lang_means = g.mean(axis=0)
    msb = k * float(((lang_means - g.mean()) ** 2).sum()) / (n - 1)
    msw = float(((g - lang_means) ** 2).sum()) / (n * (k - 1))
    return (msb - msw) / (msb + (k - 1) * msw) if msb + (k - 1) * msw > 0 else math.nan


def sign_agreement(g: np.ndarray) -> tuple[int, int, float]:
    """(languages whose gain has one sign in every seed, languages, the share chance gives: 2 x 0.5^seeds)."""
    signs = np.sign(g)
    same = int(((signs > 0).all(axis=0) | (signs < 0).all(axis=0)).sum())
    return same, g.shape[1], 2 * 0.5 ** g.shape[0]


def interaction_corr(stack: np.ndarray) -> float:
    """Does the task x language pattern reproduce? ``stack[t, s, l]`` are the candidates' gains; per
    seed the language's mean over tasks and the task's mean over languages are taken out, and the
    residual patterns of two seeds are correlated (mean over seed pairs). Near 0: which task is best
    for which language is seed noise, so no feature can learn it from these runs."""
    inter = (
        stack
        - stack.mean(axis=0, keepdims=True)
        - stack.mean(axis=2, keepdims=True)
        + stack.mean(axis=(0, 2), keepdims=True)
    )
    n = stack.shape[1]
    rs = [float(np.corrcoef(inter[:, i].ravel(), inter[:, j].ravel())[0, 1]) for i in range(n) for j in range(i + 1, n)]
    return float(np.mean(rs)) if rs else math.nan


def best_agreement(stack: np.ndarray) -> tuple[int, int, float]:
    """(languages whose best candidate is the same in every seed, languages, chance: 1 / tasks^(seeds-1))."""
    best = stack.argmax(axis=0)  # seeds x languages
    same = int((best == best[0]).all(axis=0).sum())
    return same, stack.shape[2], float(stack.shape[0]) ** -(stack.shape[1] - 1)


def headroom(dev: float, chance: float) -> float:
    """1 - (dev - chance) / (100 - chance), on 0-1: 1 = nothing learned (below chance counts as nothing)."""
    return float(min(1.0, max(0.0, 1.0 - (dev - chance) / (100.0 - chance))))


def binomial_se(p: float, n: int) -> float:
    """Standard error (points) of an accuracy p (0-100) measured on n independent items."""
    q = min(max(p / 100.0, 0.0), 1.0)
    return 100.0 * math.sqrt(q * (1 - q) / n) if n else math.nan


def verdict(low: float, high: float) -> str:
    """What an interval of a difference (or gain) says: a sign only when it excludes 0."""
    if low > 0:
        return "higher"
    if high < 0:
        return "lower"
    return "no different (the interval holds 0)"


def _ranks(x: list[float]) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    order = a.argsort(kind="mergesort")
    ranks = np.empty(len(a))
    ranks[order] = np.arange(len(a), dtype=float)
    for v in np.unique(a):  # ties share their mean rank
        ranks[a == v] = ranks[a == v].mean()
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    if len(x) < 3:
        return math.nan
    return float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])


def spearman_p(x: list[float], y: list[float]) -> float:
    """Two-sided p-value of a Spearman correlation: exact over every permutation up to 8 values."""
    import itertools

    n = len(x)
    if n < 3:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    observed = abs(float(np.corrcoef(rx, ry)[0, 1]))
    if n <= 8:
        perms = list(itertools.permutations(ry))
        return sum(abs(float(np.corrcoef(rx, p)[0, 1])) >= observed - 1e-12 for p in perms) / len(perms)
    t = observed * math.sqrt((n - 2) / max(1e-12, 1 - observed**2))
    return float(math.erfc(t / math.sqrt(2)))  # normal approximation of the t statistic


def partial_spearman(x: list[float], y: list[float], z: list[float]) -> float:
    """Spearman of x and y with z held fixed: the correlation of the rank residuals after z."""
    if len(x) < 4:
        return math.nan
    rx, ry, rz = _ranks(x), _ranks(y), _ranks(z)
    a = np.c_[rz, np.ones(len(rz))]
    ex = rx - a @ np.linalg.lstsq(a, rx, rcond=None)[0]
    ey = ry - a @ np.linalg.lstsq(a, ry, rcond=None)[0]
    return float(np.corrcoef(ex, ey)[0, 1])
