"""The measured rung: gains the store holds for the exact cell an answer is about.

A cell is (target task, target language, source). Every run of it that has a baseline gives one
gain: its score minus the English baseline of the same (dataset, model, target task, target
language) — the baseline run with the same seed where there is one, else their mean, else the
run's own ``baseline_score`` — in points. A run whose target fine-tuning ended near chance, or
whose only baseline did, gives no gain (``model.dataset.unlearned``).

The item shows the mean of those gains. Its interval is where one more run of the cell is
expected to land (what a lab that trains it will see):

    mean ± z · σ · sqrt(1 + 1/n),  z the normal quantile at the answer's level,

with σ the run-to-run standard deviation **pooled** over every cell of the same target task and
model that has two or more runs (pooled variance; the cell's own spread is part of it), else over
every cell of that model, else ``DEFAULT_SD``. One rule for every n, so that a two-seed cell does
not get a near-zero or a huge interval from its own two values. ``DEFAULT_SD`` (1.56 points) is
the run-to-run spread implied by two published runs of the very same XLM-R Large baseline (XNLI
80.9 in the XLM-R paper, 78.7 in the XTREME paper: a difference of 2.2 = √2 · σ).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from feature_store.features import ENGLISH
from feature_store.runs.run import Run
from feature_store.runs.scales import declared_scales
from feature_store.tasks import canonical_task
from recommender.model.dataset import unlearned

DEFAULT_SD = 2.2 / math.sqrt(2.0)
CellKey = tuple[str, str, float | None]  # (source task, source language, source size)


@dataclass(frozen=True)
class Cell:
    """The measured gains of one cell, one per run (points), with where they come from."""

    gains: tuple[float, ...]
    settings: tuple[tuple[str, str, int | None], ...]  # (dataset, model, seed) per gain

    @property
    def mean(self) -> float:
        return float(np.mean(self.gains))

    @property
    def datasets(self) -> list[str]:
        return sorted({d for d, _, _ in self.settings})

    @property
    def models(self) -> list[str]:
        return sorted({m for _, m, _ in self.settings})


@dataclass
class MeasuredCells:
    """Every measured cell of the store: ``cells[(task id, target language)][(source task, language, size)]``."""

    cells: dict[tuple[str, str], dict[CellKey, Cell]]
    sd_task_model: dict[tuple[str, str], float]
    sd_model: dict[str, float]

    def for_query(self, task: str, language: str, model: str | None = None) -> dict[CellKey, Cell]:
        """The cells of one query; ``model`` keeps runs of models whose name contains it (any when None)."""
        cells = self.cells.get((task, language), {})
        if not model:
            return cells
        want = model.lower()
        out = {}
        for key, cell in cells.items():
            keep = [i for i, (_, m, _) in enumerate(cell.settings) if want in m.lower()]
            if keep:
                out[key] = Cell(tuple(cell.gains[i] for i in keep), tuple(cell.settings[i] for i in keep))
        return out

    def sd(self, task: str, cell: Cell) -> tuple[float, str]:
        """(σ, where it comes from) for ``cell`` of target ``task``: the largest over its models."""
        best: tuple[float, str] | None = None
        for model in cell.models:
            if (task, model) in self.sd_task_model:
                cand = (self.sd_task_model[(task, model)], f"pooled over repeated {task} cells of {model}")
            elif model in self.sd_model:
                cand = (self.sd_model[model], f"pooled over repeated cells of {model}")
            else:
                cand = (DEFAULT_SD, "no repeated runs of this model: the spread of two published runs of one "
                                    "XLM-R Large baseline")
            if best is None or cand[0] > best[0]:
                best = cand
        return best or (DEFAULT_SD, "default")

    def interval(self, task: str, cell: Cell, level: float) -> tuple[float, float, float, str]:
        """(low, high, σ, rule) of one more run of ``cell`` at ``level``."""
        sd, where = self.sd(task, cell)
        n = len(cell.gains)
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        half = z * sd * math.sqrt(1.0 + 1.0 / n)
        rule = (f"where one more run is expected at {level:.0%}: mean ± {z:.2f} · σ · √(1 + 1/{n}), "
                f"σ = {sd:.2f} points ({where})")
        return cell.mean - half, cell.mean + half, sd, rule


def _pooled(groups: Iterable[list[float]]) -> float | None:
    ss, df = 0.0, 0
    for g in groups:
        if len(g) >= 2:
            a = np.asarray(g)
            ss += float(((a - a.mean()) ** 2).sum())
            df += len(a) - 1
    return math.sqrt(ss / df) if df else None


def measured_cells(runs: Iterable[Run], scales: Mapping[tuple[str, str], int] | None = None) -> MeasuredCells:
    """Index every run with a baseline by cell (see the module docstring)."""
    runs = list(runs)
    declared = declared_scales(runs, scales)
    by_query: dict[tuple[str, str, str, str], list[Run]] = defaultdict(list)
    for r in runs:
        by_query[(r.dataset, r.model, r.target_task, r.target_language)].append(r)
    raw: dict[tuple[str, str], dict[CellKey, list[tuple[float, tuple[str, str, int | None]]]]] = \
        defaultdict(lambda: defaultdict(list))
    for (dataset, model, target_task, lang), rows in by_query.items():
        task = canonical_task(target_task)
        base: dict[int | None, list[float]] = defaultdict(list)
        for r in rows:
            if canonical_task(r.source_task) == task and r.source_language == ENGLISH and not unlearned(r.flags):
                base[r.seed].append(r.score * 100.0 / declared[(r.dataset, r.metric)])
        mean_base = float(np.mean([v for vs in base.values() for v in vs])) if base else None
        for r in rows:
            if unlearned(r.flags) or r.source_language == lang and canonical_task(r.source_task) == task:
                continue
            if canonical_task(r.source_task) == task and r.source_language == ENGLISH:
                continue  # the baseline itself: gain 0 by definition
            scale = 100.0 / declared[(r.dataset, r.metric)]
            b = float(np.mean(base[r.seed])) if r.seed in base else mean_base
            if b is None and r.baseline_score is not None and "near_chance" not in r.flags:
                b = r.baseline_score * scale
            if b is None:
                continue  # no gain was measured
            key = (r.source_task, r.source_language, r.source_size)
            raw[(task, lang)][key].append((r.score * scale - b, (dataset, model, r.seed)))
    cells = {q: {k: Cell(tuple(g for g, _ in v), tuple(s for _, s in v)) for k, v in per.items()}
             for q, per in raw.items()}
    by_tm: dict[tuple[str, str], list[list[float]]] = defaultdict(list)
    by_m: dict[str, list[list[float]]] = defaultdict(list)
    for (task, _), per in cells.items():
        for cell in per.values():
            for model in cell.models:
                gains = [g for g, (_, m, _) in zip(cell.gains, cell.settings, strict=True) if m == model]
                by_tm[(task, model)].append(gains)
                by_m[model].append(gains)
    sd_tm = {k: s for k, v in by_tm.items() if (s := _pooled(v)) is not None}
    sd_m = {k: s for k, v in by_m.items() if (s := _pooled(v)) is not None}
    return MeasuredCells(cells, sd_tm, sd_m)


__all__ = ["Cell", "DEFAULT_SD", "MeasuredCells", "measured_cells"]
