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
)

from trainer.cell.loop import CellTrainer
from trainer.cell.tokens import IGNORE

HEAD_CLASSES = {
    "classification": AutoModelForSequenceClassification,
    "pair": AutoModelForSequenceClassification,
    "mc": AutoModelForMultipleChoice,
    "tagging": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
}


def freeze_embeddings(model: nn.Module) -> int:
    """Freeze the word-embedding matrix (not positions or LayerNorm); returns the frozen count."""
    get = getattr(model, "get_input_embeddings", None)
    embeddings = get() if get is not None else model.encoder.get_input_embeddings()  # type: ignore[union-attr,operator]
    embeddings.weight.requires_grad_(False)
    return int(embeddings.weight.numel())


def frozen_parameters(model: nn.Module) -> int:
    """How many parameters the optimiser will not touch (``freeze_embeddings`` reports them)."""
    return sum(p.numel() for p in model.parameters() if not p.requires_grad)


def load_head_model(
    folder: Path, fmt: str, labels: tuple[str, ...] | None, attn: str, *, freeze: bool = False
) -> PreTrainedModel:
    """A head model of ``fmt`` on the encoder weights in ``folder`` (the head is new); ``freeze``
    is the recipe's ``freeze_embeddings``: the word-embedding matrix is not trained.

    The heads' losses are means that ignore ``num_items_in_batch``, yet their ``forward`` takes
    ``**kwargs``, from which transformers 5 concludes that the model scales the loss itself and
    then neither divides it by the accumulation steps nor by the world size. Saying
    ``accepts_loss_kwargs = False`` makes the Trainer scale it.
    """
    kwargs: dict[str, Any] = {"attn_implementation": attn}
    if fmt in ("classification", "pair", "tagging"):
        assert labels is not None
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
        )
    model = HEAD_CLASSES[fmt].from_pretrained(str(folder), **kwargs)
    model.accepts_loss_kwargs = False
    if freeze:
        freeze_embeddings(model)
    return model


def load_encoder(folder: Path, attn: str, *, freeze: bool = False) -> PreTrainedModel:
    """The bare encoder in ``folder``; ``freeze`` as for ``load_head_model``."""
    encoder = AutoModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation=attn)
    if freeze:
        freeze_embeddings(encoder)
    return encoder


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
        # As the Hugging Face heads: normal(0, initializer_range) weights, zero biases.
        std = getattr(encoder.config, "initializer_range", 0.02)
        for module in self.heads.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                nn.init.zeros_(module.bias)

    def forward(
        self,
        task: int,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Without labels (evaluation) only the logits are returned."""
        fmt, head = self.formats[task], self.heads[task]
        shape = input_ids.shape
        if fmt == "mc":  # (batch, choices, length) -> (batch * choices, length)
            input_ids, attention_mask = input_ids.view(-1, shape[-1]), attention_mask.view(-1, shape[-1])
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        loss_fn = nn.CrossEntropyLoss(ignore_index=IGNORE)
        if fmt == "qa":
            start, end = head(hidden).unbind(-1)
            if start_positions is None or end_positions is None:
                return {"start_logits": start, "end_logits": end}
            n = start.size(1)
            loss = (loss_fn(start, start_positions.clamp(0, n - 1)) + loss_fn(end, end_positions.clamp(0, n - 1))) / 2
            return {"loss": loss, "start_logits": start, "end_logits": end}
        if fmt == "tagging":
            logits = head(hidden)
            if labels is None:
                return {"logits": logits}
            return {"loss": loss_fn(logits.view(-1, logits.size(-1)), labels.view(-1)), "logits": logits}
        logits = head(hidden[:, 0])
        if fmt == "mc":
            logits = logits.view(shape[0], shape[1])
        if labels is None:
            return {"logits": logits}
        return {"loss": loss_fn(logits, labels), "logits": logits}


class ProportionalBatchSampler:
    """Single-task batches from a union of tasks, shuffled together.

    Each task's examples are shuffled and cut into batches, then all batches are shuffled: every
    task is sampled in proportion to its size (examples-proportional mixing), and the order is a
    function of (seed, epoch) only, so a resumed run skips the batches it has already seen.
    """

    def __init__(self, tasks: list[int], batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.tasks, self.batch_size, self.seed, self.epoch = tasks, batch_size, seed, 0
        self.rank, self.world = rank, world

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
        """This rank's share: every world-th batch (the tail cut so that every rank steps alike)."""
        batches = self.batches()
        usable = len(batches) - len(batches) % self.world
        yield from batches[self.rank : usable : self.world]

    def __len__(self) -> int:
        counts: dict[int, int] = {}
        for t in self.tasks:
            counts[t] = counts.get(t, 0) + 1
        return sum(-(-c // self.batch_size) for c in counts.values()) // self.world


class _EpochLoader(DataLoader):
    """A DataLoader whose ``set_epoch`` (the Trainer calls it every epoch) reaches its batch sampler."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]


class MultiTaskTrainer(CellTrainer):
    """The cell's Trainer with single-task batches from ``ProportionalBatchSampler``.

    The sampler shards itself across ranks and gets ``set_epoch`` straight from the Trainer, so
    each epoch has its own order under DDP too (wrapped by accelerate's ``BatchSamplerShard`` it
    depended on the Trainer reaching through the wrapper). Batches reach the device through the
    Trainer's ``_prepare_inputs``.
    """

    def get_train_dataloader(self) -> DataLoader:
        assert self.train_dataset is not None
        sampler = ProportionalBatchSampler(
            [f["task"] for f in self.train_dataset],  # type: ignore[union-attr]
            self._train_batch_size,
            self.args.seed,
            rank=self.args.process_index,
            world=self.args.world_size,
        )
        return _EpochLoader(
            self.train_dataset,  # type: ignore[arg-type]
            batch_sampler=sampler,
            collate_fn=self.data_collator,  # type: ignore[arg-type]
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
