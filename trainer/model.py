"""Models: the Hugging Face task heads, and a shared encoder with one head per intermediate task.

Phase 1 trains ``MultiTaskModel`` (one task is the one-head case): an ``AutoModel`` encoder and a
small head per task, fed single-task batches drawn in proportion to each task's size. Only the
encoder is saved at its end; phase 2 loads it into a fresh ``AutoModelFor...`` head model, so
every task gets its own head and the encoder carries over.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import (
    AutoModel,
    AutoModelForMultipleChoice,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedModel,
    Trainer,
)

from trainer.features import IGNORE

HEAD_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "pair": AutoModelForSequenceClassification,
    "mc": AutoModelForMultipleChoice,
    "tagging": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
}


def load_head_model(folder: Path, fmt: str, labels: tuple[str, ...] | None, attn: str) -> PreTrainedModel:
    """A head model of ``fmt`` on the encoder weights in ``folder`` (the head is new)."""
    kwargs: dict[str, Any] = {"attn_implementation": attn}
    if fmt in ("classification", "pair", "tagging"):
        assert labels is not None
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
    return HEAD_CLASSES[fmt].from_pretrained(str(folder), **kwargs)


def load_encoder(folder: Path, attn: str) -> PreTrainedModel:
    return AutoModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation=attn)


class MultiTaskModel(nn.Module):
    """One encoder, one head per task; ``forward(task=i, ...)`` runs task i's head.

    Heads read the first token's hidden state (classification, pair, multiple choice) or every
    token (tagging, QA start/end), as the Hugging Face heads do.
    """

    accepts_loss_kwargs = False  # the Trainer must not pass num_items_in_batch to forward

    def __init__(self, encoder: PreTrainedModel, heads: list[tuple[str, int]]) -> None:
        super().__init__()
        self.encoder = encoder
        self.formats = [fmt for fmt, _ in heads]
        hidden = encoder.config.hidden_size
        dropout = encoder.config.hidden_dropout_prob
        modules: list[nn.Module] = []
        for fmt, n_labels in heads:
            if fmt in ("classification", "pair"):
                modules.append(
                    nn.Sequential(
                        nn.Dropout(dropout),
                        nn.Linear(hidden, hidden),
                        nn.Tanh(),
                        nn.Dropout(dropout),
                        nn.Linear(hidden, n_labels),
                    )
                )
            elif fmt == "mc":
                modules.append(nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, 1)))
            elif fmt == "tagging":
                modules.append(nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_labels)))
            elif fmt == "qa":
                modules.append(nn.Linear(hidden, 2))
            else:
                raise ValueError(f"no training head for format {fmt!r}")
        self.heads = nn.ModuleList(modules)

    def forward(
        self,
        task: int,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        fmt, head = self.formats[task], self.heads[task]
        shape = input_ids.shape
        if fmt == "mc":  # (batch, choices, length) -> (batch * choices, length)
            input_ids, attention_mask = input_ids.view(-1, shape[-1]), attention_mask.view(-1, shape[-1])
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
        if fmt == "qa":
            start, end = head(hidden).unbind(-1)
            n = start.size(1)
            assert start_positions is not None and end_positions is not None
            loss = (loss_fn(start, start_positions.clamp(0, n - 1)) + loss_fn(end, end_positions.clamp(0, n - 1))) / 2
            return {"loss": loss, "start_logits": start, "end_logits": end}
        if fmt == "tagging":
            logits = head(hidden)
            assert labels is not None
            return {"loss": loss_fn(logits.view(-1, logits.size(-1)), labels.view(-1)), "logits": logits}
        logits = head(hidden[:, 0])
        if fmt == "mc":
            logits = logits.view(shape[0], shape[1])
        assert labels is not None
        return {"loss": loss_fn(logits, labels), "logits": logits}


class ProportionalBatchSampler:
    """Single-task batches from a union of tasks, shuffled together.

    Each task's examples are shuffled and cut into batches, then all batches are shuffled: every
    task is sampled in proportion to its size (examples-proportional mixing), and the order is a
    function of (seed, epoch) only, so a resumed run skips the batches it has already seen.
    """

    def __init__(self, tasks: list[int], batch_size: int, seed: int) -> None:
        self.tasks, self.batch_size, self.seed, self.epoch = tasks, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100_003 + self.epoch)
        by_task: dict[int, list[int]] = {}
        for i, t in enumerate(self.tasks):
            by_task.setdefault(t, []).append(i)
        out: list[list[int]] = []
        for t in sorted(by_task):
            idx = by_task[t]
            rng.shuffle(idx)
            out += [idx[k : k + self.batch_size] for k in range(0, len(idx), self.batch_size)]
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()

    def __len__(self) -> int:
        counts: dict[int, int] = {}
        for t in self.tasks:
            counts[t] = counts.get(t, 0) + 1
        return sum(-(-c // self.batch_size) for c in counts.values())


class MultiTaskTrainer(Trainer):
    """The HF Trainer with single-task batches from ``ProportionalBatchSampler``."""

    def get_train_dataloader(self) -> DataLoader:
        assert self.train_dataset is not None
        sampler = ProportionalBatchSampler(
            [f["task"] for f in self.train_dataset],  # type: ignore[union-attr]
            self._train_batch_size,
            self.args.seed,
        )
        loader = DataLoader(
            self.train_dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,  # type: ignore[arg-type]
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)
