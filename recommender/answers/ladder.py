"""The published rungs of the evidence ladder, each with an interval derived from data.

An intermediate-task answer uses the most specific evidence there is (DESIGN.md, "What an
answer is"): ``model`` (runs in the store; ``answers.answer``), then the two published rungs here:

Every item is a named, runnable task (SQuAD, MNLI, HellaSwag, X-STILTs' nine-task mixture); a
figure that names no task (X-STILTs' best of nine per target) is context in the notes, never an item.

- **published per target task** — X-STILTs' per-task averages (SQuAD +8.2, MNLI +7.5, …) are
  averages over every XTREME target, dominated by the retrieval tasks (the paper's own finding);
  on a target with a figure of its own (its best task, averaged over its languages, minus plain
  XLM-R Large: ``feature_store.evidence.per_target``) no task is expected above that figure, so
  the item shows the smaller of the two. One language's gain strays from such an average: the
  interval is ``gain + [q_lo, q_hi]``, the conformal quantiles (at the answer's level) of
  *per-language gain minus its average over languages* in the shipped intermediate-step results
  of the fine-tuning protocol (X-CSR: 4 settings × 15 languages).
- **published overall** — for a target with no figure of its own: a retrieval target gets the
  per-task averages; a target with training data gets them bounded by the mean of the per-target
  figures (+0.8 … +10.9). The interval adds the task-to-task spread of those figures.

``published_coverage`` measures both rungs on held-out data (leave one setting, or one target
task, out), for ``stepstone evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.evidence import (
    language_deviations,
    literature_priors,
    per_target,
    per_target_gains,
)
from feature_store.features import ENGLISH, Source
from feature_store.tasks import Task
from recommender.answers.entry import Entry
from recommender.model.calibration import conformal_quantiles

PER_TARGET = "published per target task"
OVERALL = "published overall"


@dataclass(frozen=True)
class Spread:
    """Offsets (points) added to a published gain to make its interval."""

    language: tuple[float, float]  # one language vs the average over languages
    task: tuple[float, float]  # one target task vs the average over target tasks


def spread(level: float) -> Spread:
    values, _ = language_deviations()
    q = conformal_quantiles(np.asarray(values, dtype=float), level)
    gains = np.array(list(per_target_gains().values()))
    dev = gains - gains.mean()
    return Spread(language=q, task=(float(dev.min()), float(dev.max())))


def published_items(target: Task, level: float, exclude: Collection[str] = ()) -> tuple[list[Entry], str, list[str]]:
    """(entries best first, basis, notes) for ``target``: one per named X-STILTs intermediate task.

    A named task's published figure is its average gain over every XTREME target (SQuAD +8.2, …),
    dominated by the retrieval tasks. Where X-STILTs reports ``target``'s own figure (its best of
    nine tasks, averaged over languages), no single task is expected above it: the gain shown is
    the smaller of the two, with the language spread around it. A non-retrieval target with no
    figure of its own is bounded the same way by the mean of the per-target figures, with the
    task-to-task spread added. ``exclude``: tasks answered by a better rung, and ``target``'s own
    English training data (MNLI for XNLI: "intermediate" training on it is not a second task).
    """
    s = spread(level)
    figure = per_target(target.id)
    gains = per_target_gains()
    mean = float(np.mean(list(gains.values())))
    skip = {*exclude, *(t for t in (target.english_train,) if t)}
    entries: list[Entry] = []
    for p in literature_priors():
        if p.source_task in skip:
            continue
        if figure is not None:
            gain = min(p.gain, figure.gain)
            lo, hi = gain + s.language[0], gain + s.language[1]
            basis, evidence = PER_TARGET, (f"{p.claim}; on {target.name} no X-STILTs task gained more than "
                                           f"{figure.gain:+.1f} on average over languages")
        elif target.format == "retrieval":
            gain, lo, hi = p.gain, p.gain + s.task[0] + s.language[0], p.gain + s.task[1] + s.language[1]
            basis, evidence = OVERALL, p.claim
        else:
            gain = min(p.gain, mean)
            lo, hi = gain + s.task[0] + s.language[0], gain + s.task[1] + s.language[1]
            figures = ", ".join(f"{t} {g:+.1f}" for t, g in gains.items())
            basis, evidence = OVERALL, (f"{p.claim}; on targets with training data X-STILTs' best tasks gained "
                                        f"{mean:+.1f} on average ({figures}; RemBERT paper, Appendix Table 16), "
                                        "the bound used here")
        entries.append(Entry(Source(p.source_task, ENGLISH), "intermediate", gain, lo, hi, basis, evidence))
    notes = []
    if figure is not None:
        notes.append(f"context: {figure.claim}; the source does not say which task that was, so it is no item")
        how = "the published figure plus the {:.0%} range of one language's deviation from its average (X-CSR)"
        notes.append("published items: interval = " + how.format(level))
    elif entries:
        notes.append(f"no published figure for {target.id} itself: each item's gain is its X-STILTs average, bounded "
                     "for a task with training data by what the best tasks gained on such targets, with a wide "
                     "interval (task-to-task plus language-to-language spread)")
    basis = PER_TARGET if figure is not None else OVERALL
    return entries, basis, notes


def published_coverage(level: float) -> dict[str, dict[str, Any]]:
    """Held-out coverage of the two published rungs' intervals.

    Per target task: each X-CSR setting in turn is held out; its per-language deviations are
    checked against the quantiles of the other settings'. Overall: each target task in turn is
    held out; its published gain is checked against the interval built from the other tasks.
    """
    values, groups = language_deviations()
    v = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    hits: list[bool] = []
    for group in sorted(set(groups)):
        lo, hi = conformal_quantiles(v[g != group], level)
        held = v[g == group]
        hits += ((lo <= held) & (held <= hi)).tolist()
    out: dict[str, dict[str, Any]] = {PER_TARGET: _share(hits, len(set(groups)), "settings held out one at a time")}
    gains = per_target_gains()
    hits = []
    for task, gain in gains.items():
        rest = np.array([x for t, x in gains.items() if t != task])
        dev = rest - rest.mean()
        lo = rest.mean() + dev.min() + conformal_quantiles(v, level)[0]
        hi = rest.mean() + dev.max() + conformal_quantiles(v, level)[1]
        hits.append(bool(lo <= gain <= hi))
    out[OVERALL] = _share(hits, len(gains), "target tasks held out one at a time (task averages)")
    return out


def _share(hits: Sequence[bool], groups: int, how: str) -> dict[str, Any]:
    n = len(hits)
    return {"coverage": round(sum(hits) / n, 4) if n else math.nan, "rows": n, "groups": groups, "how": how}


__all__ = ["OVERALL", "PER_TARGET", "Spread", "published_coverage", "published_items", "spread"]
