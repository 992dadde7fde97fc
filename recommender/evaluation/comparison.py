"""Does multilingual intermediate data beat English-only intermediate data, and for which languages?

Measured, not predicted: over every query with an English intermediate source and a multilingual
one (source language ``mul``) under the same (dataset, model, target task) — the BLOOMZ/mT0 table
has P3 (English-only) beside xP3 and xP3mt (multilingual) for three base models — the gain of
multilingual over English-only data per target language. Queries with a multilingual source and
the plain English baseline only (X-CSR's MCP) give the multilingual gain over no intermediate step.
``stepstone evaluate`` and ``stepstone report`` show the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from feature_store.features import ENGLISH, MULTILINGUAL
from feature_store.languages import language_name
from feature_store.tasks import canonical_task
from recommender.model.dataset import Query


def multilingual_vs_english(queries: Sequence[Query], task: str | None = None) -> list[dict[str, Any]]:
    """One row per target language: mean (multilingual − English-only) intermediate score, and gains.

    ``task`` keeps the queries of one target task id. Rows: ``language``, ``name``, ``pairs`` (number
    of (setting, multilingual source) pairs with an English-only intermediate source), ``ml_minus_en``
    (points, mean over pairs), ``ml_wins`` (share of pairs where multilingual is higher),
    ``ml_gain`` (mean gain of multilingual intermediate data over no intermediate step, where a
    baseline is known) and ``settings`` (the target tasks it averages over).
    """
    diffs: dict[str, list[float]] = defaultdict(list)
    gains: dict[str, list[float]] = defaultdict(list)
    tasks: dict[str, set[str]] = defaultdict(set)
    for q in queries:
        if task is not None and q.task_id != canonical_task(task):
            continue
        inter = [i for i, s in enumerate(q.sources) if canonical_task(s.task) != q.task_id]
        english = [i for i in inter if q.sources[i].language == ENGLISH]
        multi = [i for i in inter if q.sources[i].language == MULTILINGUAL]
        if not multi:
            continue
        tasks[q.target_language].add(q.task_id)
        for m in multi:
            if q.baseline is not None:
                gains[q.target_language].append(float(q.scores[m] - q.baseline))
            for e in english:
                diffs[q.target_language].append(float(q.scores[m] - q.scores[e]))
    out = []
    for lang in sorted(set(diffs) | set(gains), key=lambda c: (-np.mean(diffs[c]) if diffs[c] else math.inf, c)):
        d, g = diffs[lang], gains[lang]
        out.append({"language": lang, "name": language_name(lang), "pairs": len(d),
                    "ml_minus_en": round(float(np.mean(d)), 3) if d else None,
                    "ml_wins": round(float(np.mean([x > 0 for x in d])), 3) if d else None,
                    "ml_gain": round(float(np.mean(g)), 3) if g else None, "settings": sorted(tasks[lang])})
    return out


def markdown_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The comparison as Markdown lines (empty when there is nothing to compare)."""
    if not rows:
        return []
    lines = ["| language | pairs | multilingual − English-only (points) | multilingual higher | "
             "multilingual gain over none | target tasks |", "|---|---|---|---|---|---|"]
    for r in rows:
        diff = "–" if r["ml_minus_en"] is None else f"{r['ml_minus_en']:+.2f}"
        wins = "–" if r["ml_wins"] is None else f"{r['ml_wins']:.0%}"
        gain = "–" if r["ml_gain"] is None else f"{r['ml_gain']:+.2f}"
        lines.append(f"| {r['name']} ({r['language']}) | {r['pairs']} | {diff} | {wins} | {gain} | "
                     f"{', '.join(r['settings'])} |")
    return lines


__all__ = ["markdown_table", "multilingual_vs_english"]
