"""``stepstone train score``: a predictions file scored with exactly the trainer's metric (no torch).

What XTREME's ``evaluate.py`` does for its tasks, as a library function:

- tagging (UD-POS, PAN-X, MasakhaNER, ...): gold in any tagging layout the trainer reads
  (CoNLL-U, XTREME ``token<TAB>tag``, CoNLL, JSONL); predictions one tag per token line (the
  last whitespace-separated column), a blank line between sentences. seqeval F1 + accuracy.
- QA: gold SQuAD JSON (or canonical JSONL); predictions ``{id: answer}`` JSON. SQuAD v1.1 F1 /
  exact match, MLQA's normalisation for ``mlqa`` (``language`` picks its rules).
- classification, pairs, multiple choice: gold TSV / JSONL / CSV; predictions one label per line
  (a label name or its index). Accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feature_store.errors import InvalidData, InvalidRequest
from trainer.data import metrics
from trainer.data.files import Split, encode_labels, infer_labels, iso1, read_split, refuse_blank_answers
from trainer.data.tasks import TaskSpec, known_task


def _task(task_id: str) -> TaskSpec:
    spec = known_task(task_id)
    if spec is None:
        raise InvalidRequest(f"unknown task {task_id!r}: score knows the trainer's task table (docs/trainer.md)")
    if spec.format == "retrieval":
        raise InvalidRequest(f"{spec.id!r} is scored from embeddings, not from a predictions file")
    return spec


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidData("file not found", path=str(path)) from None


def read_tag_predictions(path: Path) -> list[list[str]]:
    """Sentences of predicted tags: one tag per line (last column), blank lines between sentences."""
    sentences: list[list[str]] = [[]]
    for line in _read_lines(path):
        if line.strip():
            sentences[-1].append(line.split()[-1])
        elif sentences[-1]:
            sentences.append([])
    return [s for s in sentences if s]


def _score_tagging(spec: TaskSpec, gold: Split, predictions: Path) -> dict[str, float]:
    predicted = read_tag_predictions(predictions)
    if len(predicted) != len(gold):
        raise InvalidData(f"{len(predicted)} sentences, but the gold file has {len(gold)}", path=str(predictions))
    for i, (p, g) in enumerate(zip(predicted, gold.examples, strict=True)):
        if len(p) != len(g["tags"]):
            raise InvalidData(
                f"sentence {i + 1} has {len(p)} tags, the gold sentence {len(g['tags'])} tokens", path=str(predictions)
            )
    gold_tags = [list(g["tags"]) for g in gold.examples]
    if spec.other_tags_to_o and spec.labels:
        known = set(spec.labels)
        gold_tags = [[t if t in known else "O" for t in s] for s in gold_tags]
        predicted = [[t if t in known else "O" for t in s] for s in predicted]
    return metrics.tagging(predicted, gold_tags)


def _score_qa(spec: TaskSpec, gold: Split, predictions: Path, language: str) -> dict[str, float]:
    refuse_blank_answers(gold)
    try:
        predicted = json.loads(Path(predictions).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidData("file not found", path=str(predictions)) from None
    except json.JSONDecodeError as exc:
        raise InvalidData(f"not valid JSON ({exc.msg})", path=str(predictions), line=exc.lineno) from None
    if not isinstance(predicted, dict) or not all(isinstance(v, str) for v in predicted.values()):
        raise InvalidData("predictions must be a JSON object {question id: answer text}", path=str(predictions))
    answers = {ex["id"]: ex["answers"]["text"] for ex in gold.examples}
    if spec.id == "mlqa":
        return metrics.mlqa(predicted, answers, iso1(language))
    return metrics.squad(predicted, answers)


def _score_labels(spec: TaskSpec, gold: Split, predictions: Path) -> dict[str, float]:
    lines = [line.strip() for line in _read_lines(predictions) if line.strip()]
    if len(lines) != len(gold):
        raise InvalidData(
            f"{len(lines)} predictions, but the gold file has {len(gold)} examples", path=str(predictions)
        )
    labels = spec.labels or (infer_labels(gold, spec.format) if spec.format != "mc" else None)
    encode_labels(gold, spec.format, labels)
    predicted = Split(
        predictions,
        [{**ex, "label": p} for ex, p in zip(gold.examples, lines, strict=True)],
        list(range(1, len(lines) + 1)),
    )
    encode_labels(predicted, spec.format, labels)
    pred, ref = [e["label"] for e in predicted.examples], [e["label"] for e in gold.examples]
    scores = {"accuracy": metrics.accuracy(pred, ref)}
    if labels is not None and len(labels) == 2:
        scores["mcc"] = metrics.mcc(pred, ref)
    return scores


def score_file(task: str, gold: Path, predictions: Path, language: str = "eng") -> dict[str, Any]:
    """``{"task", "language", "metric", "score", "examples", <sub-metrics>}``, scores 0-100."""
    spec = _task(task)
    split = read_split(Path(gold), spec.format, "test")
    if spec.format == "tagging":
        scores = _score_tagging(spec, split, Path(predictions))
    elif spec.format == "qa":
        scores = _score_qa(spec, split, Path(predictions), language)
    else:
        scores = _score_labels(spec, split, Path(predictions))
    return {
        "task": spec.id,
        "language": language,
        "metric": spec.metric,
        "score": scores[spec.metric],
        "examples": len(split),
        **scores,
    }
