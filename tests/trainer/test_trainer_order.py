"""Predictions reach the right examples: a tiny model overfits a few examples of varied lengths
through the real cell code and must score >= 95 on those same examples, for every head.

With transformers 5 and length-grouped training, ``trainer.predict`` used to return predictions
in length-grouped order while evaluation mapped them to examples by position; every score of
phase 3 was computed on shuffled predictions. A model that has learned its training examples
scores near 100 on them only if each prediction meets its own example.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from trainer_fixtures import build_model, write_jsonl

from trainer.cell.run import run_cell
from trainer.config import CellConfig, TrainConfig

FILLER = "alpha beta gamma delta omega sigma kappa theta lambda zeta".split()
POSITIVE, NEGATIVE = "sunny", "rainy"
ANSWERS = "paris london tokyo lima oslo rome cairo delhi".split()
TAGS = {
    "alpha": "NOUN",
    "beta": "VERB",
    "gamma": "ADJ",
    "delta": "DET",
    "omega": "NOUN",
    "sigma": "VERB",
    "kappa": "ADJ",
    "theta": "DET",
    "lambda": "NOUN",
    "zeta": "VERB",
}
LENGTHS = [3, 22, 6, 14, 4, 25, 9, 17]  # varied and unsorted, so length grouping reorders them


def _words(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(FILLER) for _ in range(n)]


def build_overfit_data(root: Path) -> Path:
    rng = random.Random(7)
    rows: dict[str, list[dict]] = {"sentiment": [], "xnli": [], "hellaswag": [], "udpos": [], "panx": [], "squad": []}
    for i, n in enumerate(LENGTHS):
        words = _words(rng, n)
        key = POSITIVE if i % 2 else NEGATIVE
        rows["sentiment"].append({"text": " ".join([*words[: n // 2], key, *words[n // 2 :]]), "label": key})
        label = ["entailment", "neutral", "contradiction"][i % 3]
        marker = {"entailment": "sunny", "neutral": "cloudy", "contradiction": "rainy"}[label]
        rows["xnli"].append({"text_a": " ".join(words), "text_b": f"{marker} {' '.join(words[:2])}", "label": label})
        choices = [" ".join(_words(rng, 3)) for _ in range(4)]
        choices[i % 4] = f"{POSITIVE} {choices[i % 4]}"
        rows["hellaswag"].append({"context": " ".join(words), "question": "which", "choices": choices, "label": i % 4})
        rows["udpos"].append({"tokens": words, "tags": [TAGS[w] for w in words]})
        ner = [ANSWERS[k % len(ANSWERS)] if k % 5 == 2 else w for k, w in enumerate(words)]
        rows["panx"].append({"tokens": ner, "tags": ["B-LOC" if w in ANSWERS else "O" for w in ner]})
        answer = ANSWERS[i]
        left = " ".join(words[: n // 2])
        context = f"{left} {answer} {' '.join(words[n // 2 :])}".strip()
        start = len(left) + 1 if left else 0
        rows["squad"].append(
            {
                "id": f"q{i}",
                "context": context,
                "question": "which city",
                "answers": {"text": [answer], "answer_start": [start]},
            }
        )
    for task, examples in rows.items():
        write_jsonl(root / task / "train-eng.jsonl", examples)
        write_jsonl(root / task / "test-eng.jsonl", examples)
    return root


@pytest.fixture(scope="module")
def overfit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = build_overfit_data(tmp_path_factory.mktemp("overfit"))
    texts = [line for p in sorted(data.rglob("*.jsonl")) for line in p.read_text().splitlines()]
    model = build_model(tmp_path_factory.mktemp("models") / "tiny-overfit", texts)
    return data, model


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        ("sentiment", "accuracy"),  # classification
        ("xnli", "accuracy"),  # pair
        ("hellaswag", "accuracy"),  # multiple choice
        ("udpos", "f1"),  # tagging, seqeval F1 over POS tags
        ("panx", "f1"),  # BIO tagging
        ("squad", "f1"),  # extractive QA
    ],
)
def test_an_overfit_model_scores_near_100_on_its_training_examples(
    overfit: tuple[Path, Path], tmp_path: Path, task: str, metric: str
) -> None:
    data, model = overfit
    train = TrainConfig(
        epochs=80,
        batch_size=4,
        eval_batch_size=4,  # several prediction batches, each reordered by length grouping when that was the bug
        learning_rate=3e-3,
        warmup_ratio=0.0,
        weight_decay=0.0,
        max_seq_length=64,
        qa_max_seq_length=64,
        doc_stride=16,
        group_by_length=True,
        save_steps=100_000,
        logging_steps=100_000,
        use_cpu=True,
    )
    cfg = CellConfig(model=model, data=data, target_task=task, languages=["eng"], out=tmp_path, train=train)
    result = run_cell(cfg)
    assert result.scores["eng"] >= 95.0, (task, metric, result.scores)
