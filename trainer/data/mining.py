"""BUCC 2018 bitext mining as XTREME scores it (``third_party/utils_retrieve.py``, after LASER).

1. Duplicate sentences are embedded once (LASER's ``--unify``); a mined text pair stands for
   every id pair with those texts.
2. Each side's k = 4 cosine nearest neighbours on the other side, computed in row blocks so that
   a 400k x 400k similarity matrix is never held in memory (only n x k arrays are).
3. Ratio margin: ``cos(x, y) / ((mean_k(x) + mean_k(y)) / 2)``, for both directions' best
   candidates ("max" retrieval); candidates sorted by margin and taken greedily one-to-one.
4. The threshold on the margin is the one with the best F1 on the dev gold pairs
   (``bucc_optimize``) and is applied unchanged to the test pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.data.metrics import normalize_rows

NEIGHBOURHOOD = 4  # XTREME's and LASER's k for the margin


def knn(x: np.ndarray, y: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities and indices of each row of ``x``'s k nearest rows of ``y`` (rows unit
    length); shapes (n, k), best first. Memory: one (block, len(y)) slab at a time."""
    k = min(k, len(y))
    sims = np.zeros((len(x), k), dtype=np.float32)
    idx = np.zeros((len(x), k), dtype=np.int64)
    for start in range(0, len(x), block):
        slab = x[start : start + block] @ y.T
        top = np.argpartition(-slab, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(slab, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        idx[start : start + block] = np.take_along_axis(top, order, axis=1)
        sims[start : start + block] = np.take_along_axis(top_sims, order, axis=1)
    return sims, idx


def mine(x: np.ndarray, y: np.ndarray, k: int = NEIGHBOURHOOD) -> list[tuple[int, int, float]]:
    """One-to-one (x row, y row, margin) pairs, highest margin first (LASER's mode "mine", "max")."""
    x, y = normalize_rows(x), normalize_rows(y)
    x2y_sim, x2y_ind = knn(x, y, k)
    y2x_sim, y2x_ind = knn(y, x, k)
    x2y_mean, y2x_mean = x2y_sim.mean(axis=1), y2x_sim.mean(axis=1)
    fwd = x2y_sim / ((x2y_mean[:, None] + y2x_mean[x2y_ind]) / 2)
    bwd = y2x_sim / ((y2x_mean[:, None] + x2y_mean[y2x_ind]) / 2)
    fwd_best = x2y_ind[np.arange(len(x)), fwd.argmax(axis=1)]
    bwd_best = y2x_ind[np.arange(len(y)), bwd.argmax(axis=1)]
    pairs = np.concatenate([np.stack([np.arange(len(x)), fwd_best], 1), np.stack([bwd_best, np.arange(len(y))], 1)])
    scores = np.concatenate([fwd.max(axis=1), bwd.max(axis=1)])
    seen_x: set[int] = set()
    seen_y: set[int] = set()
    out = []
    for i in np.argsort(-scores, kind="stable"):
        a, b = int(pairs[i, 0]), int(pairs[i, 1])
        if a not in seen_x and b not in seen_y:
            seen_x.add(a)
            seen_y.add(b)
            out.append((a, b, float(scores[i])))
    return out


def unique_rows(texts: Sequence[str]) -> tuple[list[int], list[list[int]]]:
    """The first index of each distinct text, and for each distinct text every index that has it."""
    first: dict[str, int] = {}
    groups: list[list[int]] = []
    for i, t in enumerate(texts):
        if t not in first:
            first[t] = len(groups)
            groups.append([])
        groups[first[t]].append(i)
    return [g[0] for g in groups], groups


def candidates(
    src: np.ndarray, tgt: np.ndarray, src_texts: Sequence[str], tgt_texts: Sequence[str], k: int = NEIGHBOURHOOD
) -> dict[tuple[int, int], float]:
    """Mined (source id, target id) -> margin, duplicates embedded once and expanded back."""
    src_first, src_groups = unique_rows(src_texts)
    tgt_first, tgt_groups = unique_rows(tgt_texts)
    out: dict[tuple[int, int], float] = {}
    for a, b, score in mine(src[src_first], tgt[tgt_first], k):
        for i in src_groups[a]:
            for j in tgt_groups[b]:
                out[(i, j)] = score
    return out


def best_threshold(cands: dict[tuple[int, int], float], gold: set[tuple[int, int]]) -> tuple[float, float]:
    """XTREME's ``bucc_optimize``: (threshold, F1 0-100) maximising F1 over the sorted margins."""
    items = sorted(cands.items(), key=lambda kv: -kv[1])
    best_f1, threshold, correct = 0.0, 0.0, 0
    for n, (pair, score) in enumerate(items, start=1):
        correct += pair in gold
        if correct and gold:
            precision, recall = correct / n, correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[n][1]) / 2 if n < len(items) else score
    return threshold, 100.0 * best_f1


def f1_at(cands: dict[tuple[int, int], float], gold: set[tuple[int, int]], threshold: float) -> dict[str, float]:
    """Precision, recall and F1 (0-100) of the pairs mined at or above ``threshold``."""
    kept = {pair for pair, score in cands.items() if score >= threshold}
    correct = len(kept & gold)
    precision = correct / len(kept) if kept else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if correct else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}
