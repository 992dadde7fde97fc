"""The published rungs of the evidence ladder, each with an interval derived from data.

An intermediate-task answer uses the most specific evidence there is (DESIGN.md, "What an
answer is"): ``model`` (runs in the store; ``answers.answer``), then the two published rungs here:

- **published per target task** — X-STILTs' best intermediate task on this target, averaged over
  its languages, minus plain XLM-R Large (``feature_store.evidence.per_target``). One language's
  gain strays from such an average: the interval is ``gain + [q_lo, q_hi]``, the conformal
  quantiles (at the answer's level) of *per-language gain minus its average over languages* in the
  shipped intermediate-step results of the fine-tuning protocol (X-CSR: 4 settings × 15 languages).
- **published overall** — for a target with no figure of its own. X-STILTs' per-intermediate-task
  averages (SQuAD +8.2, MNLI +7.5, …) are averages over every XTREME target and dominated by the
  retrieval tasks (the paper's own finding: largest gains on BUCC and Tatoeba); the per-target
  figures of the tasks that have training data are far smaller (+0.8 … +10.9). So a target with
  training data gets the mean of those per-target figures, with the interval
  ``mean + [min, max] of their deviations from the mean + [q_lo, q_hi]``; a retrieval target gets
  the per-task averages, with the same task-to-task spread. Both carry a warning.

``published_coverage`` measures both rungs on held-out data (leave one setting, or one target
task, out), for ``stepstone evaluate``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.evidence import (
    language_deviations,
    literature_priors,
    per_target,
    per_target_gains,
)
from feature_store.features import ENGLISH
from feature_store.languages import language_name
from feature_store.tasks import Task
from recommender.model.calibration import conformal_quantiles

PER_TARGET = "published per target task"
OVERALL = "published overall"
BEST_XSTILTS = "xstilts-best"  # the source task of a figure about "the best of the X-STILTs tasks"


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


def _item(source_task: str, gain: float, lo: float, hi: float, basis: str, evidence: str) -> dict[str, Any]:
    return {"rank": 0, "source_task": source_task, "source_language": ENGLISH,
            "source_language_name": language_name(ENGLISH), "kind": "intermediate",
            "predicted_gain": round(gain, 3), "score": None, "basis": basis, "evidence": evidence,
            "gain_low": round(lo, 3), "gain_high": round(hi, 3), "why": [evidence]}


def published_items(target: Task, level: float) -> tuple[list[dict[str, Any]], str, list[str]]:
    """(items best first, basis, warnings) for ``target`` from the published figures."""
    s = spread(level)
    how = (f"interval: the published average plus the {level:.0%} range of one language's deviation from "
           "its average over languages in measured intermediate-step results (X-CSR)")
    figure = per_target(target.id)
    if figure is not None:
        item = _item(BEST_XSTILTS, figure.gain, figure.gain + s.language[0], figure.gain + s.language[1],
                     PER_TARGET, figure.claim)
        warning = (f"no intermediate-task runs for {target.id} in the store: the intermediate answer is X-STILTs' "
                   f"published figure for {target.name} (the best of its intermediate tasks; the source does not "
                   f"say which), not a prediction for this language; {how}")
        return [item], PER_TARGET, [warning]
    gains = per_target_gains()
    mean = float(np.mean(list(gains.values())))
    lo, hi = s.task[0] + s.language[0], s.task[1] + s.language[1]
    if target.format == "retrieval":
        items = [_item(p.source_task, p.gain, p.gain + lo, p.gain + hi, OVERALL, p.claim) for p in literature_priors()]
        what = "X-STILTs' average gains over all XTREME targets (dominated by the retrieval tasks)"
    else:
        claim = (f"X-STILTs' best intermediate task, averaged over the {len(gains)} XTREME target tasks with "
                 f"training data ({', '.join(f'{t} {g:+.1f}' for t, g in gains.items())}): {mean:+.1f} points "
                 "(RemBERT paper, Appendix Table 16)")
        items = [_item(BEST_XSTILTS, mean, mean + lo, mean + hi, OVERALL, claim)]
        what = ("the mean of X-STILTs' per-target figures (its per-task averages, SQuAD +8.2 and the like, are "
                "dominated by the retrieval tasks BUCC and Tatoeba and do not fit a task with training data)")
    warning = (f"no intermediate-task runs and no published per-target figure for {target.id}: the intermediate "
               f"answer is {what}, with a wide interval (the spread of the per-target figures across target tasks "
               "plus one language's deviation from an average)")
    return items, OVERALL, [warning]


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


__all__ = ["BEST_XSTILTS", "OVERALL", "PER_TARGET", "Spread", "published_coverage", "published_items", "spread"]
