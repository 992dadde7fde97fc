"""The Hugging Face Trainer as the cell uses it: arguments, dataset-order prediction, callbacks.

- ``training_args``: ``batch_size`` is the *global* batch; each device gets
  ``batch_size / (world size x gradient_accumulation_steps)``, so 1 GPU and 8 GPUs train the same
  recipe (same learning rate, same number of updates).
- ``CellTrainer``: transformers 5 hands ``trainer.predict`` a ``LengthGroupedSampler`` whenever
  training groups by length, so predictions would come back in a shuffled order; this subclass
  predicts in dataset order, which evaluation relies on to map predictions to examples.
- ``DevSelection``: evaluates the English dev set at the end of every epoch (and every
  ``eval_steps``), keeps the best weights in host memory and stops after ``early_stopping_patience``
  evaluations without improvement (jiant's ``no_improvements_for_n_evals``); the best weights are
  restored at the end, as ``load_best_model_at_end`` would, without writing a checkpoint per epoch.
- ``TimedCheckpoints``: a checkpoint every ``save_minutes`` of wall-clock time on top of every
  ``save_steps`` updates, for resuming; ``remove_checkpoints`` deletes them once a phase is done.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments

from feature_store.errors import InvalidRequest
from trainer.config import TrainConfig
from trainer.world import world_size


def use_gpu(cfg: TrainConfig) -> bool:
    return torch.cuda.is_available() and not cfg.use_cpu


def per_device_batch(cfg: TrainConfig, batch_size: int) -> int:
    split = world_size() * cfg.gradient_accumulation_steps
    if batch_size % split:
        raise InvalidRequest(
            f"batch_size {batch_size} (the global batch) is not divisible by world size {world_size()} "
            f"x gradient_accumulation_steps {cfg.gradient_accumulation_steps}"
        )
    return batch_size // split


def precision(cfg: TrainConfig) -> tuple[bool, bool]:
    """(bf16, fp16): bf16 where the GPU has it, fp16 (with loss scaling) where not, fp32 on the CPU."""
    if not use_gpu(cfg) or not cfg.bf16:
        return False, False
    bf16 = torch.cuda.is_bf16_supported()
    return bf16, not bf16


def training_args(
    cfg: TrainConfig, out_dir: Path, seed: int, *, epochs: float, batch_size: int, multi_task: bool
) -> TrainingArguments:
    gpu = use_gpu(cfg)
    bf16, fp16 = precision(cfg)
    return TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=per_device_batch(cfg, batch_size),
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float below 1 is a share of the steps
        num_train_epochs=epochs,
        max_steps=cfg.max_steps,
        bf16=bf16,
        fp16=fp16,
        optim="adamw_torch_fused" if gpu else "adamw_torch",
        torch_compile=cfg.torch_compile,
        # Multi-task batches come from ProportionalBatchSampler, not the Trainer's sampler.
        train_sampling_strategy="group_by_length" if cfg.group_by_length and not multi_task else "random",
        eval_strategy="no",  # DevSelection evaluates with the task's own metric
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        logging_nan_inf_filter=False,  # its isnan check syncs host and device every step
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=not gpu,
        dataloader_pin_memory=gpu,
        dataloader_num_workers=cfg.dataloader_num_workers,
        # Each multi-task step uses one head, so DDP must expect unused parameters.
        ddp_find_unused_parameters=multi_task,
        remove_unused_columns=not multi_task,
    )


class CellTrainer(Trainer):
    """The HF Trainer with predictions in dataset order (see the module docstring)."""

    def _get_eval_sampler(self, eval_dataset: Any) -> torch.utils.data.Sampler | None:
        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return None  # accelerate shards in order and gather_for_metrics puts the pieces back in order


class TimedCheckpoints(TrainerCallback):
    """Ask for a checkpoint every ``minutes`` of wall-clock time (0: never)."""

    def __init__(self, minutes: float) -> None:
        self.seconds, self.last = minutes * 60, time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.seconds > 0 and time.monotonic() - self.last >= self.seconds:
            control.should_save = True
        if control.should_save:
            self.last = time.monotonic()
        return control


class DevSelection(TrainerCallback):
    """English-dev evaluation during training: keep the best weights, stop early (module docstring)."""

    def __init__(self, evaluate: Callable[[], dict[str, float]], metric: str, patience: int, eval_steps: int) -> None:
        self.evaluate, self.metric, self.patience, self.eval_steps = evaluate, metric, patience, eval_steps
        self.history: list[dict[str, Any]] = []
        self.best: float | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad = 0
        self.model: torch.nn.Module | None = None

    def _run(self, state: Any, control: Any) -> Any:
        assert self.model is not None
        scores = self.evaluate()
        score = scores[self.metric]
        self.history.append({"step": state.global_step, "epoch": state.epoch, **scores})
        if self.best is None or score > self.best:
            self.best, self.bad = score, 0
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        else:
            self.bad += 1
            if self.patience and self.bad >= self.patience:
                control.should_training_stop = True
        return control

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        self.model = model
        return control

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.eval_steps and state.global_step % self.eval_steps == 0:
            return self._run(state, control)
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        return self._run(state, control)

    def restore(self) -> dict[str, Any]:
        """Load the best weights back; what was selected, for result.json."""
        if self.model is not None and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        best = max(self.history, key=lambda h: h[self.metric]) if self.history else None
        return {"metric": self.metric, "best": best, "history": self.history}


def remove_checkpoints(phase_dir: Path) -> None:
    """A phase's resume checkpoints (model + optimiser state, GBs each) once the phase is done."""
    for path in phase_dir.glob("checkpoint-*"):
        shutil.rmtree(path, ignore_errors=True)


def n_tokens(features: list[dict[str, Any]]) -> int:
    """Non-padding tokens of a phase's training features, counted once on the host."""
    total = 0
    for f in features:
        ids = f["input_ids"]
        total += sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)
    return total


def throughput(result: Any, trainer: Trainer, tokens_per_epoch: int, resumed: str | None) -> dict[str, Any]:
    runtime = float(result.metrics.get("train_runtime", 0.0))
    tokens = int(tokens_per_epoch * float(trainer.state.epoch or 0.0))
    return {
        "steps": result.global_step,
        "epochs": trainer.state.epoch,
        "train_loss": result.training_loss,
        "runtime_s": runtime,
        "samples_per_s": result.metrics.get("train_samples_per_second"),
        "tokens": tokens,
        "tokens_per_s": tokens / runtime if runtime else None,
        "resumed_from": resumed,
    }
