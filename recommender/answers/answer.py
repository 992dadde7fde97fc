"""One query's answer from arrays: score every candidate, then build dicts for the k it returns.

The model scores the whole pool at once (one design matrix, one prediction call, vectorised
intervals); literature priors are merged in by their published gain; only the ``k`` items the
answer returns are explained (TreeSHAP) and turned into dicts. ``recommend`` and ``report``
both go through ``rank_query``, so they answer the same query the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feature_store.evidence import Prior
from feature_store.features import ENGLISH, FeatureBuilder, Source
from feature_store.languages import language_name
from feature_store.tasks import Task
from recommender.answers.annotate import Annotator, rounded
from recommender.model.ranker import TransferRanker

# Peers (other candidates of the query) that an answer's explanations are measured against.
PEERS = 4


@dataclass
class Ranking:
    """A query's answer items (the first k) and, for reports, every candidate's predicted gain."""

    items: list[dict[str, Any]]
    best_high: float | None
    sources: list[Source]
    kinds: list[str]
    gains: np.ndarray


def merge_order(order: np.ndarray, gains: np.ndarray, priors: Sequence[Prior]) -> list[int | Prior]:
    """Model rows in ranker order with each prior inserted before the first model row of lower gain."""
    out: list[int | Prior] = [int(i) for i in order]
    for prior in priors:
        pos = next((j for j, ref in enumerate(out) if isinstance(ref, int)
                    and (not math.isfinite(gains[ref]) or gains[ref] < prior.gain)), len(out))
        while pos < len(out) and isinstance(out[pos], Prior) and out[pos].gain >= prior.gain:  # type: ignore[union-attr]
            pos += 1
        out.insert(pos, prior)
    return out


def prior_item(prior: Prior) -> dict[str, Any]:
    return {"rank": 0, "source_task": prior.source_task, "source_language": ENGLISH,
            "source_language_name": language_name(ENGLISH), "kind": "intermediate",
            "predicted_gain": prior.gain, "score": None, "basis": "literature-prior", "evidence": prior.claim,
            "gain_low": None, "gain_high": None, "why": [prior.claim]}


def rank_query(model: TransferRanker, ann: Annotator, builder: FeatureBuilder, target: Task, code: str,
               pool: Sequence[tuple[Source, str]], priors: Sequence[Prior], k: int) -> Ranking:
    """Rank ``pool`` (and ``priors``) for ``target`` → ``code``; items for the first ``k``."""
    sources = [s for s, _ in pool]
    kinds = [kind for _, kind in pool]
    if sources:
        Z = model.design(builder.build(target.id, code, sources), target.id, sources)
        scores, gains = model.score(Z), model.predict_gain(Z)
        lo, hi = ann.intervals(gains, target.id)
        order = np.argsort(-scores, kind="stable")
    else:
        Z = np.zeros((0, 0))
        scores = gains = lo = hi = np.zeros(0)
        order = np.zeros(0, dtype=int)
    top = merge_order(order, gains, priors)[:k]
    rows = [ref for ref in top if isinstance(ref, int)]
    n = len(sources)
    reasons = ann.reasons(Z, scores, target.id, [code] * n, sources, [np.arange(n)] * n, rows,
                          max_peers=PEERS) if rows else {}
    items = []
    for rank, ref in enumerate(top, start=1):
        if isinstance(ref, Prior):
            item = prior_item(ref)
        else:
            s = sources[ref]
            item = {"rank": 0, "source_task": s.task, "source_language": s.language,
                    "source_language_name": language_name(s.language), "kind": kinds[ref],
                    "predicted_gain": rounded(gains[ref]), "score": round(float(scores[ref]), 4), "basis": "model",
                    "gain_low": rounded(lo[ref]), "gain_high": rounded(hi[ref]), "why": reasons.get(ref, [])}
        item["rank"] = rank
        items.append(item)
    finite = hi[np.isfinite(hi)]
    highs = ([round(float(finite.max()), 3)] if len(finite) else []) + [p.gain for p in priors]
    return Ranking(items, max(highs) if highs else None, sources, kinds, gains)


__all__ = ["Ranking", "rank_query", "merge_order", "PEERS"]
