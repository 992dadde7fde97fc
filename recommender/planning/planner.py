"""Which cells to measure next: a batch of unmeasured (source, target language) cells, best value first.

The criterion is the **expected improvement of the best measured cell** (points of the target
task's metric). After the batch is measured the user takes the best measured cell of each
language (the baseline, English fine-tuning, counts as measured with gain 0), so a cell is worth
``E[max(best, Y) − best]`` under the belief of ``belief.Belief``: large when the cell is predicted
to beat the best measured one, or is uncertain enough that it might. That is the expected
reduction of top-1 loss, in points instead of per cent of the oracle.

A batch is chosen greedily by *marginal* value: the expected improvement of the language's best
cell that the cell adds to the cells already chosen, computed from ``DRAWS`` joint draws of the
belief (common random numbers, so the choice is deterministic). A second cell in the same
language is worth less than the first when their errors are correlated, so the batch spreads
over languages when that is worth more. With a GPU-hour budget the greedy step takes the best
value per marginal GPU-hour (``cost``): a cell whose source is trained for another language of
the batch costs nothing more (the trainer evaluates every language of a source in one job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.features import Source
from recommender.planning.belief import Belief
from recommender.planning.cost import Phase, cell_hours

DRAWS = 4000
MAX_CELLS = 100


@dataclass
class Cell:
    """One candidate cell of a language, measured or not."""

    source: Source
    kind: str  # "intermediate" or "language"
    basis: str  # "model" or "literature-prior"
    predicted_gain: float
    gain_low: float | None
    gain_high: float | None
    phases: list[Phase]
    measured: bool = False
    measured_gain: float | None = None
    evidence: str | None = None

    @property
    def hours(self) -> float | None:
        return cell_hours(self.phases)

    @property
    def training_key(self) -> tuple[str, str, float | None]:
        """Cells with the same key share one training job (the trainer evaluates each language in it)."""
        return (self.source.task, self.source.language, self.source.size if self.kind == "language" else None)


@dataclass
class LanguagePlan:
    """One target language: its cells, the belief about their gains, and the reference to beat."""

    language: str
    language_name: str
    cells: list[Cell]
    belief: Belief
    baseline: float | None  # the baseline's score in points, when measured
    reference: float = 0.0  # gain of the best measured cell (the baseline: 0)
    reference_label: str = "the baseline"


def _fmt(x: float) -> str:
    return f"{x:+.1f}"


def _why(lp: LanguagePlan, i: int, ei: float, p_better: float, marginal_cost: float | None,
         shared_with: str | None, second: bool) -> list[str]:
    c = lp.cells[i]
    mean, sd = float(lp.belief.mean[i]), float(lp.belief.std()[i])
    interval = "" if c.gain_low is None else f", interval {_fmt(c.gain_low)} … {_fmt(c.gain_high or 0.0)}"
    out = [f"predicted gain {_fmt(c.predicted_gain)} points{interval}; after what is measured for "
           f"{lp.language}: {_fmt(mean)} ± {sd:.1f}",
           f"{p_better:.0%} chance to beat {lp.reference_label} ({_fmt(lp.reference)}); expected improvement "
           f"{ei:.2f} points"]
    if c.basis == "literature-prior":
        out.append(f"no run of this kind in the store: the published average gain ({c.evidence}) with the "
                   "model's interval width")
    if shared_with is not None:
        out.append(f"trains once with {shared_with}: no GPU-hours beyond evaluation")
    elif marginal_cost is None:
        out.append("cost unknown: the registry has no training size for it")
    if second:
        out.append(f"not the first cell for {lp.language}: worth what it adds to the cells above")
    return out


@dataclass
class _Track:
    """One language during the greedy choice: joint draws, the best value per draw so far, what is taken."""

    samples: np.ndarray  # (draws, n)
    cur: np.ndarray  # (draws,)
    ei: np.ndarray  # (n,) expected improvement of each cell alone
    p: np.ndarray  # (n,) probability of beating the reference
    taken: np.ndarray  # (n,) measured or chosen
    count: int = 0


def _track(lp: LanguagePlan, draws: int, seed: int) -> _Track:
    samples = lp.belief.samples(draws, seed)
    cur = np.full(draws, lp.reference)
    known = lp.belief.measured & np.isfinite(lp.belief.value)  # a measured cell without a baseline has no gain
    if known.any():
        cur = np.maximum(cur, lp.belief.value[known].max())
    return _Track(samples, cur, lp.belief.expected_improvement(lp.reference),
                  lp.belief.probability_better(lp.reference), lp.belief.measured.copy())


def choose(languages: Sequence[LanguagePlan], *, budget: int | None = None, gpu_hours: float | None = None,
           draws: int = DRAWS, seed: int = 0) -> list[dict[str, Any]]:
    """Pick up to ``budget`` cells (or as many as ``gpu_hours`` pays for), best marginal value first."""
    limit = MAX_CELLS if budget is None else min(budget, MAX_CELLS)
    state = [_track(lp, draws, seed + k) for k, lp in enumerate(languages)]
    trained: dict[tuple[str, str, float | None], str] = {}
    spent = 0.0
    picks: list[dict[str, Any]] = []
    while len(picks) < limit:
        best: tuple[float, float, int, int, float, float | None] | None = None
        for k, lp in enumerate(languages):
            st = state[k]
            free = np.flatnonzero(~st.taken)
            if len(free) == 0:
                continue
            gain = np.maximum(st.cur[:, None], st.samples[:, free]).mean(axis=0) - st.cur.mean()
            for j, i in enumerate(free.tolist()):
                cell = lp.cells[i]
                cost = 0.0 if cell.training_key in trained else cell.hours
                if gpu_hours is not None:
                    if cost is None or spent + cost > gpu_hours + 1e-9:
                        continue
                    priority = float(gain[j]) / max(cost, 1e-3)
                else:
                    priority = float(gain[j])
                tie = float(lp.belief.mean[i])
                key = (priority, tie, -k, -i, float(gain[j]), cost)
                if best is None or key[:2] > best[:2]:
                    best = key
        if best is None:
            break
        _, _, nk, ni, marginal, cost = best
        k, i = -nk, -ni
        lp, st = languages[k], state[k]
        cell = lp.cells[i]
        shared_with = trained.get(cell.training_key)
        trained.setdefault(cell.training_key, lp.language)
        spent += cost or 0.0
        st.taken[i] = True
        st.cur = np.maximum(st.cur, st.samples[:, i])
        st.count += 1
        ei, p = float(st.ei[i]), float(st.p[i])
        picks.append({
            "rank": len(picks) + 1, "target_language": lp.language, "target_language_name": lp.language_name,
            "source_task": cell.source.task, "source_language": cell.source.language, "kind": cell.kind,
            "basis": cell.basis, "predicted_gain": round(cell.predicted_gain, 3),
            "gain_low": None if cell.gain_low is None else round(cell.gain_low, 3),
            "gain_high": None if cell.gain_high is None else round(cell.gain_high, 3),
            "expected_improvement": round(ei, 4), "batch_value": round(max(marginal, 0.0), 4),
            "p_better": round(p, 4),
            "loss_reduction_pct": None if lp.baseline is None or lp.baseline + lp.reference <= 0
            else round(100.0 * ei / (lp.baseline + lp.reference), 4),
            "gpu_hours": cell.hours, "marginal_gpu_hours": None if cost is None else round(cost, 3),
            "phases": [{"task": ph.task, "examples": ph.examples, "epochs": ph.epochs,
                        "tokens_per_example": round(ph.tokens_per_example, 2),
                        "gpu_hours": None if ph.gpu_hours is None else round(ph.gpu_hours, 3)}
                       for ph in cell.phases],
            "why": _why(lp, i, ei, p, cost, shared_with, st.count > 1),
        })
    return picks


def total_hours(picks: Sequence[dict[str, Any]]) -> float | None:
    costs = [p["marginal_gpu_hours"] for p in picks]
    return None if None in costs else round(sum(costs), 3)


__all__ = ["Cell", "LanguagePlan", "choose", "total_hours", "DRAWS", "MAX_CELLS"]
