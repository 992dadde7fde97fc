"""Task metrics, all on a 0-100 scale as XTREME reports them; numpy only, no torch.

- accuracy: classification, pair classification, multiple choice, Tatoeba.
- SQuAD F1 / exact match: extractive QA (the official SQuAD v1.1 normalisation: lower case,
  no punctuation, no English articles; MLQA's per-language normalisation is not applied).
- tagging F1: entity-level micro F1 over BIO chunks when the tag set is BIO (PAN-X, as seqeval
  scores it); token-level micro F1 (= accuracy) for plain tag sets such as UPOS.
- BUCC F1: the best F1 over thresholds on the cosine score of each source's nearest target,
  as XTREME's BUCC evaluation picks its threshold on the gold pairs.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

import numpy as np


def accuracy(predictions: Sequence[int], references: Sequence[int]) -> float:
    if not references:
        return 0.0
    return 100.0 * sum(int(p == r) for p, r in zip(predictions, references, strict=True)) / len(references)


def _normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _f1(prediction: str, truth: str) -> float:
    pred, gold = _normalize_answer(prediction).split(), _normalize_answer(truth).split()
    if not pred or not gold:
        return float(pred == gold)
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """F1 and exact match; each question takes its best gold answer (no answer = empty string)."""
    if not answers:
        return {"f1": 0.0, "exact_match": 0.0}
    f1 = em = 0.0
    for qid, golds in answers.items():
        golds = golds or [""]
        pred = predictions.get(qid, "")
        f1 += max(_f1(pred, g) for g in golds)
        em += max(float(_normalize_answer(pred) == _normalize_answer(g)) for g in golds)
    return {"f1": 100.0 * f1 / len(answers), "exact_match": 100.0 * em / len(answers)}


def is_bio(tags: Sequence[str]) -> bool:
    return any(t[:2] in ("B-", "I-") for t in tags) and all(t == "O" or t[:2] in ("B-", "I-") for t in tags)


def _chunks(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """(start, end, type) spans of a BIO sequence; an I- without a matching B- opens a span."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, label = tag.partition("-")
        if start is not None and (tag == "O" or prefix == "B" or label != kind):
            spans.add((start, i, kind or ""))
            start, kind = None, None
        if tag != "O" and start is None:
            start, kind = i, label
    return spans


def tagging_f1(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]], label_names: Sequence[str]
) -> float:
    """Micro F1 over sentences of tag names (see the module docstring for which kind)."""
    if is_bio(label_names):
        tp = n_pred = n_gold = 0
        for pred, gold in zip(predictions, references, strict=True):
            p, g = _chunks(pred), _chunks(gold)
            tp, n_pred, n_gold = tp + len(p & g), n_pred + len(p), n_gold + len(g)
        if tp == 0:
            return 0.0
        precision, recall = tp / n_pred, tp / n_gold
        return 100.0 * 2 * precision * recall / (precision + recall)
    flat_p = [t for sent in predictions for t in sent]
    flat_g = [t for sent in references for t in sent]
    return accuracy(flat_p, flat_g)  # type: ignore[arg-type]


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest(sources: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each source row its cosine-nearest target row and the cosine. Shapes (n, d), (m, d)."""
    sims = _normalize_rows(sources) @ _normalize_rows(targets).T
    best = sims.argmax(axis=1)
    return best, sims[np.arange(len(best)), best]


def retrieval_accuracy(sources: np.ndarray, targets: np.ndarray, gold: Sequence[tuple[int, int]]) -> float:
    """Tatoeba: the share of gold sources whose nearest target is their translation."""
    best, _ = nearest(sources, targets)
    return accuracy([int(best[s]) for s, _ in gold], [t for _, t in gold])


def bucc_f1(sources: np.ndarray, targets: np.ndarray, gold: Sequence[tuple[int, int]]) -> float:
    """BUCC: mine (source, nearest target) pairs above a threshold; F1 at the best threshold."""
    best, score = nearest(sources, targets)
    gold_set = set(gold)
    if not gold_set:
        return 0.0
    order = np.argsort(-score)
    tp = 0
    best_f1 = 0.0
    for k, s in enumerate(order, start=1):
        tp += int((int(s), int(best[s])) in gold_set)
        if tp:
            precision, recall = tp / k, tp / len(gold_set)
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    return 100.0 * best_f1
