"""Phase 3 predicts several languages in one pass: the scores must be exactly those of one pass per
language, whatever the grouping, for tagging (padded logits) and QA (start/end logits)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.trainer.trainer_fixtures import SW_WORDS, WORDS, YO_WORDS, _qa_rows, _tag_rows
from trainer.config import TrainConfig


def _trainer(model_dir: Path, tmp_path: Path, fmt: str, labels: int, train: TrainConfig):  # noqa: ANN202
    from transformers import AutoModelForQuestionAnswering, AutoModelForTokenClassification, TrainingArguments

    from trainer.cell.loop import CellTrainer
    from trainer.cell.tokens import collator

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = (AutoModelForTokenClassification.from_pretrained(str(model_dir), num_labels=labels) if fmt == "tagging"
             else AutoModelForQuestionAnswering.from_pretrained(str(model_dir)))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_eval_batch_size=train.eval_batch_size,
                             use_cpu=True, report_to=[])
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return CellTrainer(model=model, args=args, data_collator=collator(fmt, tokenizer, False)), tokenizer


@pytest.mark.parametrize("fmt", ["tagging", "qa"])
def test_languages_predicted_together_score_as_one_pass_each(
    model_dir: Path, tmp_path: Path, tiny_train: TrainConfig, fmt: str
) -> None:
    from trainer.cell.evaluate import evaluate_split, evaluate_splits
    from trainer.data.files import Split

    rng = random.Random(1)
    tags = ("NOUN", "VERB", "DET", "ADJ")
    words = {"eng": WORDS, "swa": SW_WORDS, "yor": YO_WORDS}
    splits = {}
    for lang, vocab in words.items():
        rows = _tag_rows(rng, vocab, 9, list(tags)) if fmt == "tagging" else _qa_rows(rng, vocab, 5, lang)
        if fmt == "tagging":
            rows = [{**r, "tags": [tags.index(t) for t in r["tags"]]} for r in rows]
        splits[lang] = Split(tmp_path / f"{lang}.jsonl", rows)
    trainer, tokenizer = _trainer(model_dir, tmp_path, fmt, len(tags), tiny_train)
    labels = tags if fmt == "tagging" else None
    task = "udpos" if fmt == "tagging" else "xquad"
    one_each = {lang: evaluate_split(trainer, s, fmt, labels, tokenizer, tiny_train, task_id=task, language=lang)
                for lang, s in splits.items()}
    for pass_features in (1_000, 12):  # all three languages in one pass; then a pass per one or two
        together = evaluate_splits(trainer, splits, fmt, labels, tokenizer, tiny_train, task_id=task,
                                   pass_features=pass_features)
        assert list(together) == list(splits)
        for lang in splits:
            assert together[lang] == pytest.approx(one_each[lang], abs=1e-6), (pass_features, lang)
