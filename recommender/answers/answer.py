"""One query's decisions from arrays: every candidate scored once, each kind ordered within itself.

*Which intermediate task* and *which source language's data* are different choices. For each
kind the candidates become ``Entry``\\ s from the most specific rung that answers them:

1. ``measured`` — the store holds runs of the exact cell (``answers.measured``): their mean;
2. ``model`` — the global LightGBM model for source languages (the ranker's order, with the gain
   model's prediction made monotone in that order, ``model.monotone``), or, for intermediate tasks
   of a target task with intermediate runs, the nearest-language model (``answers.neighbours``);
3. the published rungs (``answers.ladder``) for named intermediate tasks with no runs.

The entries of a decision are ordered by the figure they show; the first ``k`` become items and
only those are explained (TreeSHAP against the candidates of the same kind). The advice follows
from the ordered entries (``answers.advice``). ``recommend``, ``report`` and ``explain`` all go
through ``rank_query``, so they answer the same query the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from feature_store.features import FeatureBuilder, Source
from feature_store.languages import language_name
from feature_store.tasks import Task, canonical_task
from recommender.answers.advice import NOISE_THRESHOLD, advise
from recommender.answers.annotate import Annotator
from recommender.answers.entry import Entry, find_cell, ordered, with_measured
from recommender.answers.ladder import published_items
from recommender.answers.measured import MeasuredCells
from recommender.answers.neighbours import TaskRuns, predict
from recommender.answers.types import KINDS, MEASURED, MODEL, Basis, Decision, Kind
from recommender.model.calibration import DEFAULT_LEVEL
from recommender.model.monotone import shown_gains
from recommender.model.ranker import TransferRanker

# Peers (other candidates of the same kind) that an answer's explanations are measured against.
PEERS = 4
SCALE = {"intermediate": "gain in points over fine-tuning the same model on the target task in English, "
                         "with an intermediate training stage first; ranked only against other intermediate tasks",
         "language": "gain in points over fine-tuning on the target task's English data, using another "
                     "language's data instead; ranked only against other source languages"}


@dataclass
class Ranking:
    """A query's decisions, with every candidate's entry (ordered) for reports and ``explain``."""

    decisions: dict[Kind, Decision]
    entries: dict[Kind, list[Entry]]
    Z: np.ndarray
    scores: np.ndarray
    sources: list[Source]
    pools: list[np.ndarray]


def _model_entries(rows: np.ndarray, scores: np.ndarray, gains: np.ndarray, ann: Annotator, key: str,
                   sources: Sequence[Source], kind: Kind) -> list[Entry]:
    shown = shown_gains(scores[rows], gains[rows])
    lo, hi = ann.intervals(shown, key)
    return [Entry(sources[int(i)], kind, float(shown[j]), float(lo[j]), float(hi[j]), MODEL,
                  "predicted by the model from runs of other target languages", row=int(i),
                  tiebreak=float(scores[int(i)])) for j, i in enumerate(rows)]


def _neighbour_entries(runs: TaskRuns, builder: FeatureBuilder, code: str, level: float) -> tuple[list[Entry], str]:
    """The intermediate entries of a target task with intermediate runs (nearest-language model)."""
    lf = builder.languages
    gain, lo, hi = predict(runs, lf, code, level)
    model, caveats = runs.measured_with()
    d = runs.distances(lf, code)
    near = np.argsort(np.nan_to_num(d, nan=np.inf), kind="stable")
    out = []
    for j, s in enumerate(runs.sources):
        if not math.isfinite(gain[j]):
            continue
        measured = [int(i) for i in near if math.isfinite(runs.gains[i, j]) and runs.languages[i] != code][:3]
        why = [f"measured on {runs.task} for {language_name(runs.languages[i])} ({runs.languages[i]}): "
               f"{runs.gains[i, j]:+.2f} points" + ("" if not math.isfinite(d[i]) else f", distance {d[i]:.2f}")
               for i in measured]
        caveat = [f"in these runs {s.task} itself was not learned (its English dev score stayed at chance): the gain "
                  "is what its training did to the encoder, not what the task teaches"] if s.task in runs.unlearned \
            else []
        out.append(Entry(s, "intermediate", float(gain[j]), float(lo[j]), float(hi[j]), MODEL,
                         f"{int(np.isfinite(runs.gains[:, j]).sum())} measured {runs.task} targets, model {model}",
                         why=why, caveats=caveat + [f"the evidence is {c}" for c in caveats]))
    note = (f"intermediate tasks without a measured cell for {language_name(code)} are predicted from their gains "
            f"on the {runs.task} targets nearest to it (typology, family, place), from {len(runs.languages)} "
            f"measured target languages with {model}")
    return out, note


def _decision(kind: Kind, basis: Basis | None, entries: list[Entry], k: int, target: Task,
              notes: list[str], threshold: float) -> Decision:
    top = entries[:k]
    if top and all(e.basis == MEASURED for e in entries):
        basis = MEASURED
    advice, detail, named = advise(entries, target.id, kind, threshold)
    return Decision(kind=kind, basis=basis, scale=SCALE[kind], recommendations=[e.item(r) for r, e in
                                                                               enumerate(top, start=1)],
                    advice=advice, advice_detail=detail, advice_sources=named, notes=notes)


def rank_query(model: TransferRanker, ann: Annotator, builder: FeatureBuilder, target: Task, code: str,
               pool: Sequence[tuple[Source, str]], kinds: Sequence[str], k: int,
               intermediate_runs: TaskRuns | None = None, measured: MeasuredCells | None = None,
               model_filter: str | None = None, threshold: float = NOISE_THRESHOLD,
               explain_rows: Sequence[int] = ()) -> Ranking:
    """Rank ``pool`` for ``target`` → ``code``: both decisions, those not in ``kinds`` left empty.

    ``intermediate_runs``: the target task's measured intermediate gains (the nearest-language
    model); ``measured``: the store's measured cells (the measured rung); ``model_filter``: count
    only measured runs of models whose name contains it. ``explain_rows``: pool rows whose reasons
    are wanted even when they are not among the first ``k`` (``explain``).
    """
    sources = [s for s, _ in pool]
    kind_of = np.array([kind for _, kind in pool])
    n = len(sources)
    if n:
        Z, scores, gains = model.predict(builder.build(target.id, code, sources), target.id, sources)
    else:
        Z, scores, gains = np.zeros((0, 0)), np.zeros(0), np.zeros(0)
    rows_of = {kind: np.flatnonzero(kind_of == kind) for kind in KINDS}
    level = ann.interval_level() or DEFAULT_LEVEL
    cells = measured.for_query(target.id, code, model_filter) if measured is not None else {}
    canon = {t: canonical_task(t) for t, _, _ in cells}
    entries: dict[Kind, list[Entry]] = {}
    bases: dict[Kind, Basis | None] = {}
    notes: dict[Kind, list[str]] = {}
    for kind in KINDS:
        notes[kind] = []
        if kind not in kinds:
            entries[kind], bases[kind] = [], None
            notes[kind].append(f"not asked for (candidates={'/'.join(kinds)})")
            continue
        found: list[Entry] = []
        if kind == "intermediate" and intermediate_runs is not None:
            found, note = _neighbour_entries(intermediate_runs, builder, code, level)
            bases[kind] = MODEL
            notes[kind].append(note)
        elif len(rows_of[kind]):
            key = target.id if kind == "language" else f"{target.id}/intermediate"
            found = _model_entries(rows_of[kind], scores, gains, ann, key, sources, kind)
            bases[kind] = MODEL
            if kind == "language":
                notes[kind].append("order: the ranker's (held-out top-1 loss in `stepstone evaluate`); the gain beside "
                                   "each predicted item is the gain model's, made non-increasing in that order "
                                   "(docs/reports.md); measured items show their runs' mean")
        else:
            bases[kind] = None
        if kind == "intermediate":
            published, basis, more = published_items(target, level, {e.source.task for e in found})
            found += published
            bases[kind] = bases[kind] or basis
            notes[kind] += more
        if kind == "language" and not found:
            notes[kind].append(f"no training data for {target.id} is known in another language (runs in the store "
                               "or the task registry's list)")
        for i, e in enumerate(found):
            cell = find_cell(cells, e.source, canon) if cells else None
            if cell is not None:
                assert measured is not None
                found[i] = with_measured(e, cell, measured, target.id, level, e.caveats)
        entries[kind] = ordered(found)
    shown = [e.row for kind in KINDS for e in entries[kind][:k] if e.basis == MODEL and e.row is not None]
    shown = list(dict.fromkeys([*shown, *explain_rows]))
    pools = [rows_of["language" if kind_of[i] == "language" else "intermediate"] for i in range(n)]
    reasons = ann.reasons(Z, scores, target.id, [code] * n, sources, pools, shown, max_peers=PEERS) if shown else {}
    for kind in KINDS:
        for e in entries[kind]:
            if e.basis == MODEL and e.row is not None and e.row in reasons:
                e.why, more = reasons[e.row]
                e.caveats = [*e.caveats, *more]
    decisions = {kind: _decision(kind, bases[kind], entries[kind], k, target, notes[kind], threshold)
                 for kind in KINDS}
    return Ranking(decisions, entries, Z, scores, sources, pools)


__all__ = ["PEERS", "Ranking", "SCALE", "rank_query"]
