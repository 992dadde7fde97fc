"""Canonical examples -> token features and batch collators, one recipe per format.

Padding is dynamic (each batch pads to its longest member, rounded up to a multiple of ``BUCKET``
on a GPU), so features are unpadded lists here. Evaluation keeps what is needed to
map predictions back: the QA window -> example map and character offsets (Hugging Face's
``run_qa.py`` recipe), and each word's first sub-token for tagging (only that token is labelled
in training, the usual first-subword scheme). Long tagging sentences become several windows of
whole words (XTREME splits them rather than truncating), so no word is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding, PreTrainedTokenizerBase

from trainer.config import TrainConfig

IGNORE = -100  # label of tokens the loss skips (not a word's first sub-token, padding)
# On a GPU batches pad to a multiple of this many tokens: a multiple of 8 for the tensor cores, and
# few enough lengths (8 up to 128 tokens) that each gets one CUDA graph (trainer.cell.update).
BUCKET = 16


@dataclass
class Encoded:
    """Model inputs, one dict per feature, and what evaluation needs to read predictions back."""

    features: list[dict[str, Any]]
    example_index: list[int] = field(default_factory=list)  # the example each feature came from
    offsets: list[list[tuple[int, int] | None]] = field(default_factory=list)  # QA: context char spans
    # tagging: per example, per word, the (feature, token) of its first sub-token
    word_positions: list[list[tuple[int, int]]] = field(default_factory=list)

    def tokens(self) -> int:
        return sum(_n_tokens(f["input_ids"]) for f in self.features)


def _n_tokens(ids: list[Any]) -> int:
    return sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def encode(
    examples: list[dict[str, Any]], fmt: str, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, *, train: bool
) -> Encoded:
    """Tokenise examples of one format; ``train`` adds the labels the loss needs."""
    if fmt in ("classification", "pair"):
        return _encode_classification(examples, fmt, tokenizer, cfg, train)
    if fmt == "mc":
        return _encode_mc(examples, tokenizer, cfg, train)
    if fmt == "tagging":
        return _encode_tagging(examples, tokenizer, cfg, train)
    if fmt == "qa":
        return _encode_qa(examples, tokenizer, cfg, train)
    raise ValueError(f"no features for format {fmt!r}")


def _encode_classification(
    examples: list[dict[str, Any]], fmt: str, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, train: bool
) -> Encoded:
    if fmt == "pair":
        enc = tokenizer(
            [e["text_a"] for e in examples],
            [e["text_b"] for e in examples],
            truncation=True,
            max_length=cfg.max_seq_length,
        )
    else:
        enc = tokenizer([e["text"] for e in examples], truncation=True, max_length=cfg.max_seq_length)
    features = []
    for i, ex in enumerate(examples):
        feat = {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]}
        if train:
            feat["labels"] = ex["label"]
        features.append(feat)
    return Encoded(features, list(range(len(examples))))


def _encode_mc(
    examples: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, train: bool
) -> Encoded:
    # SWAG recipe: first segment the context (or the question), second the question + a choice.
    firsts, seconds = [], []
    for ex in examples:
        context = ex.get("context", "") or ""
        for choice in ex["choices"]:
            firsts.append(context or ex["question"])
            seconds.append(f"{ex['question']} {choice}" if context else choice)
    enc = tokenizer(firsts, seconds, truncation=True, max_length=cfg.max_seq_length)
    features, k = [], 0
    for ex in examples:
        n = len(ex["choices"])
        feat: dict[str, Any] = {
            "input_ids": enc["input_ids"][k : k + n],
            "attention_mask": enc["attention_mask"][k : k + n],
        }
        if train:
            feat["labels"] = ex["label"]
        features.append(feat)
        k += n
    return Encoded(features, list(range(len(examples))))


def word_windows(counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Split a sentence into [start, end) word windows of at most ``budget`` sub-tokens each.

    XTREME splits long tagging sentences before tokenisation instead of truncating them; a word
    longer than the budget on its own gets a window of its own (and is truncated there).
    """
    windows: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, n in enumerate(counts):
        if i > start and used + n > budget:
            windows.append((start, i))
            start, used = i, 0
        used += n
    windows.append((start, len(counts)))
    return windows


def _encode_tagging(
    examples: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, train: bool
) -> Encoded:
    budget = cfg.max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
    bare = tokenizer([e["tokens"] for e in examples], is_split_into_words=True, add_special_tokens=False)
    windows: list[tuple[int, int, int]] = []  # (example, first word, end word)
    for i, ex in enumerate(examples):
        counts = [0] * len(ex["tokens"])
        for word in bare.word_ids(i):
            if word is not None:
                counts[word] += 1
        windows += [(i, a, b) for a, b in word_windows(counts, budget)]
    enc = tokenizer(
        [examples[i]["tokens"][a:b] for i, a, b in windows],
        is_split_into_words=True,
        truncation=True,
        max_length=cfg.max_seq_length,
    )
    out = Encoded([])
    out.word_positions = [[(-1, -1)] * len(ex["tokens"]) for ex in examples]  # (-1, -1): no sub-token
    for f, (i, a, _) in enumerate(windows):
        labels = [IGNORE] * len(enc["input_ids"][f])
        previous = None
        for j, word in enumerate(enc.word_ids(f)):
            if word is not None and word != previous:
                out.word_positions[i][a + word] = (f, j)
                labels[j] = examples[i]["tags"][a + word] if train else IGNORE
            previous = word
        feat = {"input_ids": enc["input_ids"][f], "attention_mask": enc["attention_mask"][f]}
        if train:
            feat["labels"] = labels
        out.features.append(feat)
        out.example_index.append(i)
    return out


def _encode_qa(
    examples: list[dict[str, Any]], tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig, train: bool
) -> Encoded:
    # Long contexts become several windows that overlap by doc_stride tokens.
    enc = tokenizer(
        [e["question"].lstrip() for e in examples],
        [e["context"] for e in examples],
        truncation="only_second",
        max_length=cfg.qa_max_seq_length,
        stride=cfg.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    out = Encoded([])
    for i, offsets in enumerate(enc["offset_mapping"]):
        e = enc["overflow_to_sample_mapping"][i]
        ex = examples[e]
        sequence_ids = enc.sequence_ids(i)
        feat: dict[str, Any] = {"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i]}
        if train:
            feat["start_positions"], feat["end_positions"] = _answer_span(ex, offsets, sequence_ids)
        out.features.append(feat)
        out.example_index.append(e)
        out.offsets.append([tuple(o) if s == 1 else None for o, s in zip(offsets, sequence_ids, strict=True)])
    return out


def _answer_span(ex: dict[str, Any], offsets: list[tuple[int, int]], sequence_ids: list[int | None]) -> tuple[int, int]:
    """Token start/end of the first answer in this window; (0, 0) = CLS when it is not inside."""
    answers = ex["answers"]
    if not answers["answer_start"]:
        return 0, 0
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return 0, 0
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


class MultipleChoiceCollator:
    """Pads (choices x tokens) features into (batch, choices, length) tensors."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, pad_to_multiple_of: int | None = None) -> None:
        self.tokenizer, self.pad_to_multiple_of = tokenizer, pad_to_multiple_of

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        n = len(features[0]["input_ids"])
        flat = [
            {"input_ids": f["input_ids"][k], "attention_mask": f["attention_mask"][k]}
            for f in features
            for k in range(n)
        ]
        max_len = max(len(x["input_ids"]) for x in flat)
        if self.pad_to_multiple_of:
            max_len = -(-max_len // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((len(flat), max_len), pad_id, dtype=torch.long)
        mask = torch.zeros((len(flat), max_len), dtype=torch.long)
        for row, x in enumerate(flat):
            ids[row, : len(x["input_ids"])] = torch.tensor(x["input_ids"])
            mask[row, : len(x["attention_mask"])] = torch.tensor(x["attention_mask"])
        batch = {"input_ids": ids.view(len(features), n, -1), "attention_mask": mask.view(len(features), n, -1)}
        if "labels" in features[0]:
            batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch


class MultiTaskCollator:
    """Collates a batch of one task (batches are single-task) and tags it with the task index."""

    def __init__(self, collators: list[Any]) -> None:
        self.collators = collators

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        task = features[0]["task"]
        batch = self.collators[task]([{k: v for k, v in f.items() if k != "task"} for f in features])
        batch["task"] = task
        return batch


def collator(fmt: str, tokenizer: PreTrainedTokenizerBase, gpu: bool) -> Any:
    multiple = BUCKET if gpu else None
    if fmt == "mc":
        return MultipleChoiceCollator(tokenizer, multiple)
    if fmt == "tagging":
        return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=multiple, label_pad_token_id=IGNORE)
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=multiple)
