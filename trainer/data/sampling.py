"""The evaluation's own sampling error: how much a score would move on another draw of test examples.

A test set is a sample of its language's sentences, so a score has a standard error of its own,
apart from the seed's. Every metric here is a function of sums over examples (tagging F1: true
positives, predicted and gold chunks per sentence; accuracy: correct per example; MCC: the
confusion counts; SQuAD/MLQA: per-question F1 and exact match), so a bootstrap over examples
resamples those per-example parts and recomputes the metric from their sums: exact, and cheap
(no metric script is run again). The unit resampled is the example (a sentence for tagging, whose
tokens are not independent). ``ROUNDS`` resamples with a fixed seed: the same predictions always
give the same error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

ROUNDS = 1000
Statistic = Callable[[np.ndarray], np.ndarray]  # sums (rounds x parts) -> metric per round


def bootstrap_se(parts: np.ndarray, statistic: Statistic, rounds: int = ROUNDS, seed: int = 0) -> float:
    """Standard deviation of ``statistic`` over bootstrap resamples of the rows of ``parts``
    (one row of additive counts per example); NaN with fewer than two examples."""
    parts = np.asarray(parts, dtype=np.float64)
    n = len(parts)
    if n < 2:
        return float("nan")
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=rounds)
    return float(np.std(statistic(weights @ parts), ddof=1))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(100.0 * num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def tagging_parts(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> np.ndarray:
    """Per sentence: chunks right, chunks predicted, gold chunks (seqeval's default mode, whose
    micro F1 is 2·right / (predicted + gold) summed over sentences), tokens right, tokens."""
    from seqeval.metrics.sequence_labeling import get_entities

    rows = []
    with warnings.catch_warnings():  # seqeval warns that POS tags "seem not to be NE tags"
        warnings.simplefilter("ignore")
        for pred, gold in zip(predictions, references, strict=True):
            p, g = set(get_entities(list(pred))), set(get_entities(list(gold)))
            right = sum(int(a == b) for a, b in zip(pred, gold, strict=True))
            rows.append((len(p & g), len(p), len(g), right, len(gold)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 5)


def tagging_se(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    parts = tagging_parts(predictions, references)
    return {
        "f1_se": bootstrap_se(parts, lambda s: _ratio(2 * s[:, 0], s[:, 1] + s[:, 2])),
        "accuracy_se": bootstrap_se(parts, lambda s: _ratio(s[:, 3], s[:, 4])),
    }


def _mcc(s: np.ndarray) -> np.ndarray:
    tp, tn, fp, fn = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return _ratio(tp * tn - fp * fn, den)


def labels_se(predictions: Sequence[object], references: Sequence[object], *, two_class: bool) -> dict[str, float]:
    """Accuracy's error, and MCC's for two classes (the positive class as ``metrics.mcc`` picks it)."""
    right = np.asarray([float(p == r) for p, r in zip(predictions, references, strict=True)])
    out = {"accuracy_se": bootstrap_se(np.stack([right, np.ones_like(right)], 1), lambda s: _ratio(s[:, 0], s[:, 1]))}
    if two_class:
        pos = sorted({*references, *predictions}, key=str)[-1] if references else None
        p = np.asarray([x == pos for x in predictions])
        r = np.asarray([x == pos for x in references])
        confusion = np.stack([p & r, ~p & ~r, p & ~r, ~p & r], 1).astype(np.float64)
        out["mcc_se"] = bootstrap_se(confusion, _mcc)
    return out


def qa_se(per_question: np.ndarray) -> dict[str, float]:
    """From each question's (F1, exact match), both 0-1."""
    parts = np.column_stack([per_question, np.ones(len(per_question))]) if len(per_question) else np.zeros((0, 3))
    return {
        "f1_se": bootstrap_se(parts, lambda s: _ratio(s[:, 0], s[:, 2])),
        "exact_match_se": bootstrap_se(parts, lambda s: _ratio(s[:, 1], s[:, 2])),
    }
