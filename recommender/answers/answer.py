"""One query's answer from arrays: two decisions, each ranked only against its own kind.

*Which intermediate task* and *which source language's data* are different choices. The model
scores every candidate at once (one design matrix, one prediction call, vectorised intervals);
then each kind is ordered within itself, and only the ``k`` items a decision returns are
explained (TreeSHAP, against the candidates of the same kind). An intermediate decision with no
intermediate runs of the target task takes the published rungs of the evidence ladder
(``answers.ladder``). ``recommend`` and ``report`` both go through ``rank_query``, so they answer
the same query the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feature_store.features import FeatureBuilder, Source
from feature_store.languages import language_name
from feature_store.tasks import Task
from recommender.answers.advice import advice
from recommender.answers.annotate import Annotator, rounded
from recommender.answers.ladder import BEST_XSTILTS, published_items
from recommender.answers.neighbours import TaskRuns, predict
from recommender.model.calibration import DEFAULT_LEVEL
from recommender.model.ranker import TransferRanker

# Peers (other candidates of the same kind) that an answer's explanations are measured against.
PEERS = 4
KINDS: tuple[str, ...] = ("intermediate", "language")
MODEL = "model"
SCALE = {"intermediate": "gain in points over fine-tuning the same model on the target task in English, "
                         "with an intermediate training stage first; ranked only against other intermediate tasks",
         "language": "gain in points over fine-tuning on the target task's English data, using another "
                     "language's data instead; ranked only against other source languages"}


@dataclass
class Decision:
    """One decision of an answer: its kind, basis, ranked items (rank 1 … k within the kind) and advice."""

    kind: str
    basis: str | None
    items: list[dict[str, Any]]
    advice: str | None = None
    advice_detail: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "basis": self.basis, "scale": SCALE[self.kind], "recommendations": self.items,
                "advice": self.advice, "advice_detail": self.advice_detail, "notes": self.notes}


@dataclass
class Ranking:
    """A query's decisions and, for reports, every model-scored candidate's predicted gain."""

    decisions: dict[str, Decision]
    warnings: list[str]
    sources: list[Source]
    kinds: list[str]
    gains: np.ndarray

    @property
    def items(self) -> list[dict[str, Any]]:
        return [item for d in self.decisions.values() for item in d.items]


def _label(source: Source, kind: str) -> str:
    if kind == "language":
        return f"{language_name(source.language)} ({source.language})"
    return source.task if source.language == "eng" else f"{source.task} ({language_name(source.language)})"


def _published_name(source_task: str) -> str:
    return "X-STILTs' best intermediate task" if source_task == BEST_XSTILTS else source_task


def _model_decision(kind: str, rows: np.ndarray, scores: np.ndarray, gains: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray, sources: Sequence[Source], reasons: dict[int, list[str]],
                    top: Sequence[int]) -> Decision:
    by_gain = [int(i) for i in rows[np.argsort(-np.nan_to_num(gains[rows], nan=-np.inf), kind="stable")]]
    items = []
    for rank, i in enumerate(top, start=1):
        s = sources[i]
        items.append({"rank": rank, "source_task": s.task, "source_language": s.language,
                      "source_language_name": language_name(s.language), "kind": kind,
                      "predicted_gain": rounded(gains[i]), "score": round(float(scores[i]), 4), "basis": MODEL,
                      "evidence": None, "gain_low": rounded(lo[i]), "gain_high": rounded(hi[i]),
                      "gain_rank": by_gain.index(i) + 1, "why": reasons.get(i, [])})
    notes = []
    best = by_gain[0] if by_gain and math.isfinite(gains[by_gain[0]]) else None
    if best is not None and top and top[0] != best:
        notes.append(f"the order is the ranker's, trained to put the best source first (its held-out top-1 loss is "
                     f"in `stepstone evaluate`); the gain beside each item is the gain model's, trained on the size "
                     f"of gains, which puts {_label(sources[best], kind)} highest ({gains[best]:+.2f}): "
                     "`gain_rank` is each item's place by gain")
    return Decision(kind, MODEL, items, notes=notes)


def _neighbour_decision(runs: TaskRuns, builder: FeatureBuilder, code: str, level: float, k: int) -> Decision:
    """The intermediate decision from the task's own runs: order and gain from one model (``answers.neighbours``)."""
    lf = builder.languages
    gain, lo, hi = predict(runs, lf, code, level)
    model, caveats = runs.measured_with()
    d = runs.distances(lf, code)
    order = [int(j) for j in np.argsort(-np.nan_to_num(gain, nan=-np.inf), kind="stable") if math.isfinite(gain[j])]
    items = []
    for rank, j in enumerate(order[:k], start=1):
        s = runs.sources[j]
        measured = [i for i in np.argsort(np.nan_to_num(d, nan=np.inf), kind="stable")
                    if math.isfinite(runs.gains[i, j])][:3]
        why = [f"measured on {runs.task} for {language_name(runs.languages[i])} ({runs.languages[i]}): "
               f"{runs.gains[i, j]:+.2f} points" + ("" if not math.isfinite(d[i]) else f", distance {d[i]:.2f}")
               for i in measured]
        if s.task in runs.unlearned:  # first, within the three reasons an item carries
            why = [f"in these runs {s.task} itself was not learned (its English dev score stayed at chance): "
                   "the gain is what its training did to the encoder, not what the task teaches", *why][:3]
        items.append({"rank": rank, "source_task": s.task, "source_language": s.language,
                      "source_language_name": language_name(s.language), "source_size": s.size,
                      "kind": "intermediate", "predicted_gain": rounded(gain[j]), "score": None, "basis": MODEL,
                      "evidence": f"{int(np.isfinite(runs.gains[:, j]).sum())} measured {runs.task} targets, "
                                  f"model {model}",
                      "gain_low": rounded(lo[j]), "gain_high": rounded(hi[j]), "gain_rank": rank, "why": why})
    return Decision("intermediate", MODEL, items, notes=[
        f"intermediate tasks are ranked by their gain measured on the {runs.task} targets nearest to "
        f"{language_name(code)} (typology, family, place), from {len(runs.languages)} measured target languages "
        f"with {model}; order and gain come from this one model",
        *[f"the evidence is {c}" for c in caveats]])


def rank_query(model: TransferRanker, ann: Annotator, builder: FeatureBuilder, target: Task, code: str,
               pool: Sequence[tuple[Source, str]], kinds: Sequence[str], k: int,
               intermediate_runs: TaskRuns | None = None) -> Ranking:
    """Rank ``pool`` for ``target`` → ``code``, one decision per kind in ``kinds``; items for the first ``k``.

    ``intermediate_runs``: the target task's measured intermediate gains; with them the intermediate
    decision is the nearest-language model's (``answers.neighbours``), without them the published rungs.
    """
    sources = [s for s, _ in pool]
    kind_of = np.array([kind for _, kind in pool])
    n = len(sources)
    if n:
        Z = model.design(builder.build(target.id, code, sources), target.id, sources)
        scores, gains = model.score(Z), model.predict_gain(Z)
    else:
        Z = np.zeros((0, 0))
        scores = gains = np.zeros(0)
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    rows_of = {kind: np.flatnonzero(kind_of == kind) for kind in KINDS}
    for kind, rows in rows_of.items():
        if len(rows):
            key = target.id if kind == "language" else f"{target.id}/intermediate"
            lo[rows], hi[rows] = ann.intervals(gains[rows], key)
    tops = {kind: [int(i) for i in rows[np.argsort(-scores[rows], kind="stable")][:k]]
            for kind, rows in rows_of.items() if kind in kinds and len(rows)}
    shown = [i for top in tops.values() for i in top]
    pools = [rows_of[str(kind_of[i])] for i in range(n)]
    reasons = ann.reasons(Z, scores, target.id, [code] * n, sources, pools, shown, max_peers=PEERS) if shown else {}
    decisions: dict[str, Decision] = {}
    warnings: list[str] = []
    level = ann.interval_level() or DEFAULT_LEVEL
    for kind in kinds:
        if kind == "intermediate" and intermediate_runs is not None:
            d = _neighbour_decision(intermediate_runs, builder, code, level, k)
            gains_i = [item["predicted_gain"] for item in d.items if item["predicted_gain"] is not None]
            best_gain = max(gains_i) if gains_i else None
            best_name = d.items[0]["source_task"] if d.items else ""
        elif kind in tops:
            d = _model_decision(kind, rows_of[kind], scores, gains, lo, hi, sources, reasons, tops[kind])
            finite = [i for i in rows_of[kind] if math.isfinite(gains[i])]
            best = max(finite, key=lambda i: gains[i]) if finite else None
            best_gain = None if best is None else float(gains[best])
            best_name = "" if best is None else _label(sources[best], kind)
        elif kind == "intermediate":
            items, basis, more = published_items(target, level)
            for rank, item in enumerate(items[:k], start=1):
                item["rank"] = rank
            d = Decision(kind, basis, items[:k])
            warnings += more
            best_gain = max(item["predicted_gain"] for item in items) if items else None
            best_name = _published_name(items[0]["source_task"]) if items else ""
        else:
            d = Decision(kind, None, [], notes=[f"no source-language candidates for {target.id}"])
            best_gain, best_name = None, ""
        d.advice, d.advice_detail = advice(best_gain, target.id, kind, best_name)
        decisions[kind] = d
    return Ranking(decisions, warnings, sources, [str(x) for x in kind_of], gains)


__all__ = ["Decision", "KINDS", "TaskRuns", "MODEL", "Ranking", "SCALE", "rank_query", "PEERS"]
