"""What ``bench/trainer_loop.py`` times: the trainer's own loop, a minimal PyTorch loop and the
synthetic step, each on the same model, features, batch size and lengths.

The trainer's modules are imported by name at call time, so the same functions time today's
trainer from another checkout (``--trainer-root``): the module names of both layouts are tried.
"""

from __future__ import annotations

import importlib
import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

PEAK_BF16 = 989e12  # H200 SXM, dense BF16 tensor-core FLOP/s (datasheet)


def module(*names: str) -> Any:
    """The first of ``names`` that imports (the trainer in rooms, or the flat one before it)."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(names[0])


def trainer_modules() -> dict[str, Any]:
    return {
        "loop": module("trainer.cell.loop", "trainer.loop"),
        "model": module("trainer.cell.model", "trainer.model"),
        "tokens": module("trainer.cell.tokens", "trainer.features"),
        "config": module("trainer.config"),
    }


def flops_per_token(model: torch.nn.Module, seq: int) -> float:
    """6 x non-embedding parameters + 12 x layers x hidden x the example's length (fwd + bwd)."""
    tables = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight")
    n = sum(p.numel() for name, p in model.named_parameters() if not name.endswith(tables))
    cfg = model.config
    return 6.0 * n + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * seq


def useful_flops(model: torch.nn.Module, features: list[dict[str, Any]]) -> float:
    return sum(len(f["input_ids"]) * flops_per_token(model, len(f["input_ids"])) for f in features)


def tokens_of(features: list[dict[str, Any]]) -> int:
    return sum(len(f["input_ids"]) for f in features)


def figures(seconds: float, updates: int, tokens: int, flops: float, gpu: bool, cpu_s: float = math.nan
            ) -> dict[str, float]:
    """The loop's figures; ``cpu_s`` (this process's CPU time) gives tokens per CPU-second, which a
    CPU shared with other work does not distort as it distorts wall time."""
    return {
        "cpu_s": cpu_s,
        "tokens_per_cpu_s": tokens / cpu_s if cpu_s == cpu_s and cpu_s > 0 else math.nan,
        "seconds": seconds,
        "updates": updates,
        "tokens": tokens,
        "tokens_per_s": tokens / seconds,
        "updates_per_s": updates / seconds,
        "tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / PEAK_BF16 if gpu else math.nan,
    }


def run_trainer(
    make_model: Any, features: list[dict[str, Any]], fmt: str, tokenizer: Any, train: Any, seed: int, gpu: bool
) -> tuple[dict[str, float], Any]:
    """The trainer's phase loop as phase 2 builds it (``training_args`` + ``CellTrainer``), timed by
    the Trainer itself (``train_runtime``: the loop, not the model load)."""
    m = trainer_modules()
    model = make_model()
    with tempfile.TemporaryDirectory() as out:
        args = m["loop"].training_args(train, Path(out), seed, epochs=train.epochs, batch_size=train.batch_size,
                                       multi_task=False)
        lean = {"train_cfg": train} if hasattr(train, "embedding_update") else {}  # the trainer before had none
        trainer = m["loop"].CellTrainer(model=model, args=args, train_dataset=features,
                                        data_collator=m["tokens"].collator(fmt, tokenizer, gpu), **lean)
        clock = _CpuClock()
        trainer.add_callback(clock)
        result = trainer.train()
        cpu_s = clock.seconds
    seconds = float(result.metrics["train_runtime"])
    epochs = float(trainer.state.epoch or 0.0)
    tokens = int(tokens_of(features) * epochs)
    flops = useful_flops(model, features) * epochs
    out = figures(seconds, result.global_step, tokens, flops, gpu, cpu_s)
    graphs = getattr(trainer, "graphs", None)
    if graphs is not None:
        out.update(graphs.summary())
    return out, model


class _CpuClock(TrainerCallback):
    """CPU seconds from the Trainer's ``on_train_begin`` to ``on_train_end``: the loop, as HF's
    ``train_runtime`` times it, without the setup and first-call imports before it."""

    seconds = math.nan

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start = time.process_time()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds = time.process_time() - self.start


def length_grouped(lengths: list[int], batch: int, rng: random.Random) -> list[list[int]]:
    """The trainer's length buckets (``trainer.cell.loop.LengthBuckets``): megabatches of 50
    batches sorted by length, full batches shuffled, the short one last; the same padding."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    full: list[list[int]] = []
    short: list[list[int]] = []
    for start in range(0, len(order), batch * 50):
        chunk = sorted(order[start : start + batch * 50], key=lambda i: -lengths[i])
        for k in range(0, len(chunk), batch):
            (full if len(chunk[k : k + batch]) == batch else short).append(chunk[k : k + batch])
    rng.shuffle(full)
    return full + short


def pad(features: list[dict[str, Any]], pad_id: int, multiple: int, device: torch.device) -> dict[str, torch.Tensor]:
    longest = max(len(f["input_ids"]) for f in features)
    longest = -(-longest // multiple) * multiple
    ids = torch.full((len(features), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(features), longest), dtype=torch.long)
    out = {"input_ids": ids, "attention_mask": mask}
    per_token = isinstance(features[0].get("labels"), list)
    labels = torch.full((len(features), longest), -100, dtype=torch.long) if per_token else None
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        mask[row, :n] = 1
        if labels is not None:
            labels[row, :n] = torch.tensor(f["labels"])
    if labels is not None:
        out["labels"] = labels
    elif "labels" in features[0]:
        out["labels"] = torch.tensor([f["labels"] for f in features])
    for key in ("start_positions", "end_positions"):
        if key in features[0]:
            out[key] = torch.tensor([f[key] for f in features])
    return {k: v.to(device, non_blocking=True) for k, v in out.items()}


def run_minimal(
    make_model: Any, features: list[dict[str, Any]], pad_id: int, train: Any, seed: int, device: torch.device,
    *, sparse_table: bool = False,
) -> dict[str, float]:
    """A plain PyTorch loop with the trainer's recipe: AdamW (no decay on biases and LayerNorm),
    linear warm-up then decay, clipping at 1.0, dynamic padding, length-grouped batches, bf16
    autocast on a GPU. ``sparse_table``: the word embeddings get a lazy row update as the trainer's."""
    torch.manual_seed(seed)
    model = make_model().to(device).train()
    gpu = device.type == "cuda"
    table = model.get_input_embeddings()
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not _no_decay(n) and p is not table.weight]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and _no_decay(n) and p is not table.weight]
    groups = [{"params": decay, "weight_decay": train.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if table.weight.requires_grad and not sparse_table:
        groups[0]["params"].append(table.weight)
    optimizer = torch.optim.AdamW(groups, lr=train.learning_rate, fused=gpu or None, foreach=None if gpu else True)
    sparse = None
    if sparse_table and table.weight.requires_grad:
        table.sparse = True
        sparse = torch.optim.SparseAdam([table.weight], lr=train.learning_rate)
    batches = length_grouped([len(f["input_ids"]) for f in features], train.batch_size, random.Random(seed))
    total = len(batches) * int(train.epochs)
    warm = math.ceil(total * train.warmup_ratio)
    rate = lambda s: s / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm))  # noqa: E731
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, rate) for o in (optimizer, sparse) if o is not None]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else torch.autocast("cpu", enabled=False)
    multiple = 8 if gpu else 1
    if gpu:
        torch.cuda.synchronize()
    start, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(int(train.epochs)):
        for rows in batches:
            batch = pad([features[i] for i in rows], pad_id, multiple, device)
            with autocast:
                loss = model(**batch).loss
            loss.backward()
            dense = [p for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
            torch.nn.utils.clip_grad_norm_(dense, 1.0)
            for o in (optimizer, sparse):
                if o is not None:
                    o.step()
            for s in schedules:
                s.step()
            model.zero_grad(set_to_none=True)
    if gpu:
        torch.cuda.synchronize()
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu0
    epochs = int(train.epochs)
    return figures(seconds, total, tokens_of(features) * epochs, useful_flops(model, features) * epochs, gpu, cpu_s)


def _no_decay(name: str) -> bool:
    return name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
