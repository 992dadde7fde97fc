"""The cells of one target language: its candidate sources, which are measured, and the belief about them.

``language_plan`` scores the candidate pool of ``answers.candidates`` with the live model (the
same design rows ``recommend`` scores), turns the calibrated gain intervals into a belief
(``belief``), conditions it on the cells the store has measured for the language, and prices
every cell (``cost``). ``model_belief`` is the part the simulation (``simulate``) shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from feature_store.evidence import Prior
from feature_store.features import ENGLISH, FeatureBuilder, Source
from feature_store.lang_features import LanguageFeatures
from feature_store.languages import language_name
from feature_store.tasks import Task, canonical_task
from recommender.model.calibration import Calibration
from recommender.model.dataset import Query
from recommender.model.ranker import TransferRanker
from recommender.planning.belief import SHARED, Belief, correlation, rank_aligned, sigma_from_interval
from recommender.planning.cost import cell_phases
from recommender.planning.planner import Cell, LanguagePlan

# Before the first measurement of a language its level is unknown (no baseline): a broad offset
# common to every cell (points²) leaves only the differences between cells informative.
UNKNOWN_LEVEL_VARIANCE = 1e4


def cell_key(task: str, language: str) -> tuple[str, str]:
    return (canonical_task(task), language)


def source_correlation(sources: Sequence[Source], lf: LanguageFeatures) -> np.ndarray:
    """Correlation of the cells' errors: shared per language, plus closeness of same-task sources."""
    langs = [s.language for s in sources]
    d = lf.distance_matrix(langs, langs)
    known = np.isfinite(d)
    # The mean of the known distances; a pair with none (a language URIEL lacks) counts as far apart.
    dist = np.where(known.any(axis=2), np.where(known, d, 0.0).sum(axis=2) / np.maximum(known.sum(axis=2), 1), 1.0)
    tasks = [canonical_task(s.task) for s in sources]
    same = np.array([[a == b for b in tasks] for a in tasks], dtype=bool).reshape(len(tasks), len(tasks))
    return correlation(dist, same)


def model_belief(scores: np.ndarray, gains: np.ndarray, low: np.ndarray, high: np.ndarray, level: float,
                 sources: Sequence[Source], lf: LanguageFeatures, *, offset_variance: float = 0.0) -> Belief:
    """The belief about model-scored cells: rank-aligned gains, calibrated spreads, correlated errors."""
    mean = rank_aligned(scores, gains)
    sigma = sigma_from_interval(low, high, level)
    return Belief(np.nan_to_num(mean), np.nan_to_num(sigma, nan=1.0), source_correlation(sources, lf),
                  offset_variance=offset_variance)


def language_plan(model: TransferRanker, calibration: Calibration, builder: FeatureBuilder, target: Task,
                  code: str, pool: Sequence[tuple[Source, str]], priors: Sequence[Prior],
                  measured: Query | None, measured_keys: set[tuple[str, str]],
                  tokens_per_second: float | None) -> LanguagePlan:
    """Every candidate cell of ``code`` (measured ones included), the belief about them, conditioned."""
    sources = [s for s, _ in pool]
    kinds = [k for _, k in pool]
    level = calibration.level
    if sources:
        Z, scores, gains = model.predict(builder.build(target.id, code, sources), target.id, sources)
        low, high = calibration.intervals(gains, target.id)
        aligned = rank_aligned(scores, gains)
        belief_m = model_belief(scores, gains, low, high, level, sources, builder.languages)
    else:
        aligned = low = high = np.zeros(0)
        belief_m = Belief(np.zeros(0), np.zeros(0), np.zeros((0, 0)))
    prior_sources = [Source(p.source_task, ENGLISH) for p in priors]
    cells = [Cell(s, kinds[i], "model", float(aligned[i]), float(low[i]), float(high[i]),
                  cell_phases(target, s.task, s.size, kinds[i], tokens_per_second))
             for i, s in enumerate(sources)]
    for p, s in zip(priors, prior_sources, strict=True):
        lo, hi = calibration.interval(p.gain, target.id)
        cells.append(Cell(s, "intermediate", "literature-prior", p.gain, lo, hi,
                          cell_phases(target, s.task, None, "intermediate", tokens_per_second), evidence=p.claim))
    prior_sigma = float(sigma_from_interval(np.zeros(1), np.full(1, calibration.width(target.id)), level)[0])
    belief = _join(belief_m, [c.predicted_gain for c in cells[len(sources):]], prior_sigma)
    plan = LanguagePlan(code, language_name(code), cells, belief, baseline=None)
    _condition(plan, measured, measured_keys)
    return plan


def _join(model_part: Belief, prior_means: Sequence[float], prior_sigma: float) -> Belief:
    """The model cells' belief with the literature-prior cells appended (independent of the model's errors)."""
    n, m = len(model_part.mean), len(prior_means)
    if m == 0:
        return model_part
    mean = np.concatenate([model_part.mean, np.asarray(prior_means, dtype=float)])
    cov = np.zeros((n + m, n + m))
    cov[:n, :n] = model_part.cov
    block = np.full((m, m), SHARED)
    np.fill_diagonal(block, 1.0)
    cov[n:, n:] = block * prior_sigma ** 2
    out = Belief(mean, np.ones(n + m), np.eye(n + m))
    out.cov = cov
    return out


def _condition(plan: LanguagePlan, measured: Query | None, keys: set[tuple[str, str]]) -> None:
    """Mark measured cells, observe their gains, and set the reference to beat."""
    by_key: dict[tuple[str, str], float] = {}
    if measured is not None:
        plan.baseline = measured.baseline
        for s, g in zip(measured.sources, measured.gains, strict=True):
            if np.isfinite(g):
                by_key[cell_key(s.task, s.language)] = float(g)
    best, label = 0.0, "the baseline"
    for i, cell in enumerate(plan.cells):
        key = cell_key(cell.source.task, cell.source.language)
        if key not in keys:
            continue
        cell.measured = True
        gain = by_key.get(key)
        cell.measured_gain = gain
        if gain is None:
            plan.belief.measured[i] = True  # measured, but without a baseline its gain is unknown
            continue
        plan.belief.observe(i, gain)
        if gain > best:
            best, label = gain, f"the best measured cell ({cell.source.task}/{cell.source.language})"
    plan.reference, plan.reference_label = best, label


__all__ = ["language_plan", "model_belief", "source_correlation", "cell_key", "UNKNOWN_LEVEL_VARIANCE"]
