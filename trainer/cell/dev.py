"""English dev sets: read once per cell, evaluated during training and after every phase.

``dev_check`` compares a phase's dev score with the score of the best constant guess
(``metrics.chance_score``): a phase that ends near chance learned nothing, and the cell says so
instead of writing its zero-shot scores as if they were results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import PreTrainedTokenizerBase, Trainer

from trainer.cell.evaluate import evaluate_split
from trainer.config import CellConfig, TrainConfig
from trainer.data import metrics
from trainer.data.files import Split, encode_labels, eval_cap, find_files, read_files, refuse_blank_answers
from trainer.data.tasks import TaskSpec


@dataclass
class DevSet:
    task: TaskSpec  # labels resolved from the training data
    language: str
    split: Split  # labels encoded
    chance: float  # the task metric of the best constant guess on this split


def dev_set(cfg: CellConfig, task: TaskSpec, language: str) -> DevSet | None:
    """The task's dev split in ``language`` (capped by ``max_dev_samples``), or None if there is none."""
    paths = find_files(cfg.data, task.id, "dev", language)
    if not paths:
        return None
    split = read_files(paths, task.format, "dev")
    if task.format == "qa":
        refuse_blank_answers(split)
    encode_labels(split, task.format, task.labels, other_tags_to_o=task.other_tags_to_o)
    split = eval_cap(split, cfg.train.max_dev_samples, cfg.train.eval_cap)
    if task.format == "tagging":
        gold: list[Any] = [[task.labels[t] for t in ex["tags"]] for ex in split.examples]  # type: ignore[index]
        chance = metrics.chance_score("tagging", task.metric, gold)
    else:
        gold = [ex.get("label") for ex in split.examples]
        n_choices = len(split.examples[0].get("choices", [])) if task.format == "mc" else 0
        chance = metrics.chance_score(task.format, task.metric, gold, n_choices)
    return DevSet(task, language, split, chance)


def evaluate_dev(
    trainer: Trainer, dev: DevSet, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, task_index: int | None = None
) -> dict[str, float]:
    return evaluate_split(
        trainer,
        dev.split,
        dev.task.format,
        dev.task.labels,
        tokenizer,
        cfg,
        task_id=dev.task.id,
        language=dev.language,
        task_index=task_index,
    )


def dev_check(
    trainer: Trainer, dev: DevSet, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, task_index: int | None = None
) -> dict[str, Any]:
    """The phase's English dev scores, its chance level and whether it ended near chance."""
    scores = evaluate_dev(trainer, dev, tokenizer, cfg, task_index)
    score = scores[dev.task.metric]
    return {
        "task": dev.task.id,
        "examples": len(dev.split),
        "metric": dev.task.metric,
        "score": score,
        "chance": dev.chance,
        "near_chance": metrics.near_chance(score, dev.chance),
        "metrics": scores,
    }


def stored_dev_check(phase1_info: dict[str, Any], dev: DevSet) -> dict[str, Any] | None:
    """The dev check of a phase-1 encoder that was trained elsewhere (a matrix's phase-1 job): its
    best English dev score, as its dev selection recorded it, against this dev set's chance level."""
    best = ((phase1_info or {}).get("dev_selection") or {}).get("best") or {}
    score = best.get(dev.task.id)
    if score is None:
        return None
    return {
        "task": dev.task.id,
        "examples": len(dev.split),
        "metric": dev.task.metric,
        "score": float(score),
        "chance": dev.chance,
        "near_chance": metrics.near_chance(float(score), dev.chance),
        "metrics": {dev.task.metric: float(score)},
        "from": "the encoder's dev selection",
    }
