"""The model rung for intermediate tasks: gains measured on the nearest target languages.

Intermediate runs are few per target task (tens of rows against thousands of source-language
rows), and the global ranker, trained mostly on source-language rows, does not pick up their
pattern (an imported PAWS-X matrix where MNLI helps European targets and SQuAD distant ones is
the test). So an intermediate decision for a target task with intermediate runs is answered by
one small model fitted on that task's runs alone, which gives both the order and the gain:

    gain(s, L) = Σ_j w_j · gain(s, L_j) / Σ_j w_j   over the ``K`` measured targets L_j nearest to L,
    w_j = 1 / (DISTANCE_FLOOR + d(L, L_j)),  d = mean of the syntactic, featural, genetic and
    geographic URIEL distances (typology, family and place: what makes transfer alike).

Gains are averaged over the task's settings (dataset, model) first. The interval is
``gain + [q_lo, q_hi]``, the conformal quantiles of leave-one-language-out residuals over every
measured (language, source) of the task (``held_out_coverage`` checks them on held-out languages).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feature_store.evidence import model_card
from feature_store.features import Source
from feature_store.lang_features import DISTANCES, LanguageFeatures
from feature_store.tasks import canonical_task
from recommender.model.calibration import conformal_quantiles
from recommender.model.dataset import Query

K = 5
DISTANCE_FLOOR = 0.05
NEIGHBOUR_DISTANCES = ("syntactic", "featural", "genetic", "geographic")
_COLS = [DISTANCES.index(d) for d in NEIGHBOUR_DISTANCES]


@dataclass
class TaskRuns:
    """Measured intermediate gains of one target task: languages × sources (NaN where not measured)."""

    task: str
    languages: list[str]
    sources: list[Source]
    gains: np.ndarray
    models: tuple[str, ...] = ()  # the models whose runs these are (an answer names them)
    unlearned: frozenset[str] = frozenset()  # intermediate tasks whose phase 1 ended near chance in these runs
    # (id of the language features, level) -> residual quantiles: they do not depend on the query
    # language, and recomputing them was half the CPU of an answer (``interval_offsets``).
    _offsets: dict[tuple[int, float], tuple[float, float]] = field(default_factory=dict, repr=False, compare=False)

    def measured_with(self) -> tuple[str, list[str]]:
        """(which model's runs these are, the caveats an answer must carry about them)."""
        cards = [(m, model_card(m)) for m in self.models]
        names = [f"{card.name} ({m})" if card else m for m, card in cards]
        return ", ".join(names), [f"{m}: {card.caveat}" for m, card in cards if card and card.caveat]

    def distances(self, lf: LanguageFeatures, code: str, cols: Sequence[int] = tuple(_COLS)) -> np.ndarray:
        """Distance of ``code`` to every measured language (NaN where unknown): the mean of ``cols``."""
        d = lf.distance_matrix([code], self.languages)[0][:, list(cols)]
        known = np.isfinite(d)
        count = known.sum(axis=1)
        return np.where(count > 0, np.where(known, d, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)

    def predict(self, lf: LanguageFeatures, code: str, exclude: str | None = None,
                cols: Sequence[int] = tuple(_COLS), k: int = K) -> np.ndarray:
        """Predicted gain of every source for target ``code`` (``exclude``: a language left out).

        ``cols`` and ``k`` give the evaluation's rules: one URIEL distance and ``k = 1`` is "the
        best source of the nearest measured language"."""
        d = self.distances(lf, code, cols)
        out = np.full(len(self.sources), np.nan)
        for j in range(len(self.sources)):
            ok = np.isfinite(self.gains[:, j]) & np.array([lang != exclude for lang in self.languages])
            if not ok.any():
                continue
            idx = np.flatnonzero(ok)
            dist = d[idx]
            if np.isfinite(dist).any():
                dist = np.where(np.isfinite(dist), dist, np.nanmax(dist) + 1.0)
                near = idx[np.argsort(dist, kind="stable")[:k]]
                w = 1.0 / (DISTANCE_FLOOR + np.sort(dist, kind="stable")[:k])
            else:  # nothing known about the language: the plain mean
                near, w = idx, np.ones(len(idx))
            out[j] = float(np.sum(w * self.gains[near, j]) / np.sum(w))
        return out

    def residuals(self, lf: LanguageFeatures) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-language-out residuals (gain − prediction) and the language of each."""
        res, langs = [], []
        for i, lang in enumerate(self.languages):
            pred = self.predict(lf, lang, exclude=lang)
            for j in range(len(self.sources)):
                if math.isfinite(self.gains[i, j]) and math.isfinite(pred[j]):
                    res.append(self.gains[i, j] - pred[j])
                    langs.append(lang)
        return np.array(res), np.array(langs)

    def interval_offsets(self, lf: LanguageFeatures, level: float) -> tuple[float, float]:
        """(q_lo, q_hi): the conformal quantiles of the leave-one-language-out residuals, once per level."""
        key = (id(lf), level)
        hit = self._offsets.get(key)
        if hit is None:
            res, _ = self.residuals(lf)
            hit = self._offsets[key] = conformal_quantiles(res, level) if len(res) else (-math.inf, math.inf)
        return hit


def unlearned_sources(runs: Iterable[Any]) -> dict[str, frozenset[str]]:
    """Per target task id, the intermediate tasks that some of its runs flag ``near_chance:phase1:<task>``."""
    out: dict[str, set[str]] = defaultdict(set)
    for r in runs:
        for flag in r.flags.split(","):
            if flag.strip().startswith("near_chance:phase1:"):
                out[canonical_task(r.target_task)].add(r.source_task)
    return {task: frozenset(s) for task, s in out.items()}


def task_runs(queries: Sequence[Query], unlearned: Mapping[str, frozenset[str]] | None = None,
              ) -> dict[str, TaskRuns]:
    """Per target task id, the measured gains of its intermediate sources (means over settings);
    ``unlearned``: per task, the intermediate tasks its runs flag as not learned."""
    cells: dict[str, dict[tuple[str, Source], list[float]]] = defaultdict(lambda: defaultdict(list))
    models: dict[str, set[str]] = defaultdict(set)
    for q in queries:
        for s, g in zip(q.sources, q.gains, strict=True):
            if canonical_task(s.task) != q.task_id and math.isfinite(g):
                cells[q.task_id][(q.target_language, Source(s.task, s.language, s.size))].append(float(g))
                models[q.task_id].add(q.model)
    out = {}
    for task, per in cells.items():
        languages = sorted({lang for lang, _ in per})
        sources = sorted({s for _, s in per})
        gains = np.full((len(languages), len(sources)), np.nan)
        for (lang, s), values in per.items():
            gains[languages.index(lang), sources.index(s)] = float(np.mean(values))
        out[task] = TaskRuns(task, languages, sources, gains, tuple(sorted(models[task])),
                             (unlearned or {}).get(task, frozenset()))
    return out


def predict(runs: TaskRuns, lf: LanguageFeatures, code: str, level: float,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gain, low, high) per source of ``runs`` for target ``code``."""
    gain = runs.predict(lf, code)
    lo, hi = runs.interval_offsets(lf, level)
    return gain, gain + lo, gain + hi


def held_out_coverage(all_runs: dict[str, TaskRuns], lf: LanguageFeatures, level: float) -> dict[str, Any]:
    """Coverage on held-out languages: each language's residuals against the quantiles of the others'."""
    hits: list[bool] = []
    widths: list[float] = []
    for runs in all_runs.values():
        res, langs = runs.residuals(lf)
        for lang in sorted(set(langs.tolist())):
            rest = res[langs != lang]
            if len(rest) == 0:
                continue
            lo, hi = conformal_quantiles(rest, level)
            held = res[langs == lang]
            hits += ((lo <= held) & (held <= hi)).tolist()
            widths.append(hi - lo)
    finite = [w for w in widths if math.isfinite(w)]
    return {"coverage": round(float(np.mean(hits)), 4) if hits else None, "rows": len(hits),
            "mean_width": round(float(np.mean(finite)), 3) if finite else None,
            "how": "nearest-language model of each target task's intermediate runs; languages held out one at a time"}


__all__ = ["K", "TaskRuns", "held_out_coverage", "predict", "task_runs", "unlearned_sources"]
