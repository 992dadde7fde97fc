"""Task metrics, all on a 0-100 scale as XTREME reports them; no torch.

Each follows a published evaluation script:

- accuracy: classification, pair classification, multiple choice, Tatoeba (XTREME ``evaluate.py``);
  two-class classification also gets Matthews correlation (``mcc``, GLUE's metric for CoLA).
- SQuAD F1 / exact match for XQuAD, TyDiQA-GoldP and SQuAD: the official SQuAD v1.1 script
  (lower case, ASCII punctuation and English articles removed, whitespace tokens; an empty
  prediction scores F1 0).
- MLQA F1 / exact match: MLQA's official ``mlqa_evaluation_v1.py`` (every Unicode punctuation
  character removed, per-language articles, Chinese split into single CJK characters).
- tagging F1: XTREME's ``run_tag.py`` scores UD-POS and PAN-X with ``seqeval.metrics.f1_score``
  in its default, non-strict mode: the first character of a tag is read as its prefix, so a run
  of one POS tag forms one chunk. Token accuracy is reported beside it, named ``accuracy``.
- BUCC and margin mining live in ``trainer/data/mining.py``.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np


def accuracy(predictions: Sequence[object], references: Sequence[object]) -> float:
    if not references:
        return 0.0
    return 100.0 * sum(int(p == r) for p, r in zip(predictions, references, strict=True)) / len(references)


def mcc(predictions: Sequence[object], references: Sequence[object]) -> float:
    """Matthews correlation of two-class labels, x 100 (GLUE's CoLA metric; 0 = a constant guess)."""
    classes = sorted({*references, *predictions}, key=str)
    if len(classes) > 2:
        raise ValueError(f"MCC needs two classes, got {len(classes)}")
    pos = classes[-1] if classes else None
    tp = sum(int(p == pos and r == pos) for p, r in zip(predictions, references, strict=True))
    tn = sum(int(p != pos and r != pos) for p, r in zip(predictions, references, strict=True))
    fp = sum(int(p == pos and r != pos) for p, r in zip(predictions, references, strict=True))
    fn = sum(int(p != pos and r == pos) for p, r in zip(predictions, references, strict=True))
    denom = float(np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))))
    return 0.0 if denom == 0 else 100.0 * (tp * tn - fp * fn) / denom


# --- SQuAD v1.1 (rajpurkar/SQuAD-explorer, evaluate-v1.1.py) -----------------------------------

_ASCII_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(pred: list[str], gold: list[str]) -> float:
    common = Counter(pred) & Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_parts(
    predictions: dict[str, str], answers: dict[str, list[str]], normalize: Callable[[str], str]
) -> np.ndarray:
    """Each question's (F1, exact match), 0-1, against its best gold answer."""
    rows = []
    for qid, golds in answers.items():
        pred = normalize(predictions.get(qid, ""))
        rows.append((max(_token_f1(pred.split(), normalize(g).split()) for g in golds),
                     max(float(pred == normalize(g)) for g in golds)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def qa_means(parts: np.ndarray) -> dict[str, float]:
    """F1 and exact match, 0-100, from ``qa_parts`` (0 with no questions)."""
    if not len(parts):
        return {"f1": 0.0, "exact_match": 0.0}
    f1, em = 100.0 * parts.mean(axis=0)
    return {"f1": float(f1), "exact_match": float(em)}


def _qa_scores(
    predictions: dict[str, str], answers: dict[str, list[str]], normalize: Callable[[str], str]
) -> dict[str, float]:
    return qa_means(qa_parts(predictions, answers, normalize))


def squad(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """SQuAD v1.1 F1 and exact match; each question takes its best gold answer."""
    return _qa_scores(predictions, answers, squad_normalize)


# --- MLQA (facebookresearch/MLQA, mlqa_evaluation_v1.py) ---------------------------------------


@functools.cache
def _unicode_punct() -> frozenset[str]:
    """Every Unicode punctuation character (category P*) and ASCII punctuation, as MLQA's PUNCT."""
    found = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    return frozenset(found | _ASCII_PUNCT)


_MLQA_ARTICLES = {
    "en": r"\b(a|an|the)\b",
    "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
    "vi": r"\b(của|là|cái|chiếc|những)\b",
    "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
    "ar": r"\sال^|ال",
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokens: every CJK character and punctuation mark alone, the rest by whitespace."""
    out: list[str] = []
    buffer = ""
    punct = _unicode_punct()
    for ch in text:
        if _CJK.search(ch) or ch in punct:
            out += buffer.split()
            buffer = ""
            out.append(ch)
        else:
            buffer += ch
    return out + buffer.split()


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA's normalisation for ``lang`` (ISO 639-1: en, es, de, ar, hi, vi, zh)."""
    punct = _unicode_punct()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    if lang in _MLQA_ARTICLES:
        text = re.sub(_MLQA_ARTICLES[lang], " ", text)
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def mlqa_normalizer(lang: str) -> Callable[[str], str]:
    return lambda s: mlqa_normalize(s, lang)


def mlqa(predictions: dict[str, str], answers: dict[str, list[str]], lang: str) -> dict[str, float]:
    """MLQA F1 and exact match with the language's normalisation."""
    return _qa_scores(predictions, answers, mlqa_normalizer(lang))


# --- tagging (seqeval, as XTREME's run_tag.py) -------------------------------------------------


def tagging(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """XTREME's tagging F1 (seqeval, default mode) and token accuracy, both 0-100."""
    from seqeval.metrics import f1_score

    with warnings.catch_warnings():  # seqeval warns that POS tags "seem not to be NE tags"
        warnings.simplefilter("ignore")
        f1 = f1_score([list(s) for s in references], [list(s) for s in predictions], zero_division=0)
    flat_p = [t for sent in predictions for t in sent]
    flat_g = [t for sent in references for t in sent]
    return {"f1": 100.0 * float(f1), "accuracy": accuracy(flat_p, flat_g)}


# --- chance level -----------------------------------------------------------------------------


def chance_score(fmt: str, metric: str, gold: Sequence[object], n_choices: int = 0) -> float:
    """The score of the best constant guess: the majority label (tagging: the commonest tag, every
    token), 1/k for multiple choice, 0 for QA. A phase whose dev score is near it learned nothing."""
    if fmt == "qa" or metric == "mcc" or not gold:  # MCC: every constant guess scores 0
        return 0.0
    if fmt == "mc":
        return 100.0 / max(n_choices, 1)
    if fmt == "tagging":
        sents = [list(s) for s in gold]  # type: ignore[call-overload]
        top = Counter(t for s in sents for t in s).most_common(1)[0][0]
        return tagging([[top] * len(s) for s in sents], sents)[metric]
    top = Counter(gold).most_common(1)[0][0]
    return accuracy([top] * len(gold), gold)


def near_chance(score: float, chance: float) -> bool:
    """Less than a tenth of the way from chance to a perfect score (and at least one point above it)."""
    return score - chance < max(0.1 * (100.0 - chance), 1.0)


# --- retrieval --------------------------------------------------------------------------------


def normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_accuracy(sources: np.ndarray, targets: np.ndarray, gold: Sequence[tuple[int, int]]) -> float:
    """Tatoeba (XTREME): the share of gold sources whose cosine-nearest target is their translation."""
    best = (normalize_rows(sources) @ normalize_rows(targets).T).argmax(axis=1)
    return accuracy([int(best[s]) for s, _ in gold], [t for _, t in gold])
