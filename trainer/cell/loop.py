"""The Hugging Face Trainer as the cell uses it: arguments, dataset-order prediction, callbacks.

- ``training_args``: ``batch_size`` is the *global* batch; each device gets
  ``batch_size / (world size x gradient_accumulation_steps)``, so 1 GPU and 8 GPUs train the same
  recipe (same learning rate, same number of updates).
- ``CellTrainer``: transformers 5 hands ``trainer.predict`` a ``LengthGroupedSampler`` whenever
  training groups by length, so predictions would come back in a shuffled order; this subclass
  predicts in dataset order, which evaluation relies on to map predictions to examples. It also
  updates through ``trainer.cell.update`` (clipping in the optimiser, the embedding table sparse
  where that is faster, CUDA graphs per batch shape on a GPU) and copies batches to the GPU without
  waiting for it, so that no update synchronises the host; the loss is read every
  ``logging_steps`` from the device.
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
from typing import Any, cast

import torch
from torch.utils.data import Sampler, SequentialSampler
from transformers import Trainer, TrainerCallback, TrainingArguments

from feature_store.errors import InvalidRequest
from trainer.cell.update import BucketGraphs, TableAdamW, build_optimizer, resolve_table
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
        optim="adamw_torch_fused" if gpu else "adamw_torch",  # what HF would build; CellTrainer builds TableAdamW
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
        accelerator_config={"non_blocking": gpu},  # batches go to the GPU without waiting for it
        dataloader_num_workers=cfg.dataloader_num_workers,
        # Each multi-task step uses one head, so DDP must expect unused parameters.
        ddp_find_unused_parameters=multi_task,
        remove_unused_columns=not multi_task,
    )


class CellTrainer(Trainer):
    """The HF Trainer with predictions in dataset order and a lean update (see the module docstring).

    ``train_cfg`` switches the lean update on; without it (a Trainer that only predicts) this is
    the HF Trainer's own."""

    def __init__(self, *args: Any, train_cfg: TrainConfig | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.train_cfg = train_cfg
        gpu = self.args.device.type == "cuda"
        graphs = (
            train_cfg is not None
            and train_cfg.cuda_graphs
            and gpu
            and self.args.bf16
            and world_size() == 1
            and self.args.gradient_accumulation_steps == 1  # a graph's gradient buffers are reused per replay
            and resolve_table(train_cfg, gpu) != "sparse"  # a sparse gradient cannot come out of a graph
        )
        self.graphs = BucketGraphs() if graphs else None
        if train_cfg is not None:
            self.add_callback(NoFinalCheckpoint())

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        if self.optimizer is None and self.train_cfg is not None:
            target: Any = self.model if model is None else model
            self.optimizer = build_optimizer(
                target,
                self.get_decay_parameter_names(target),
                self.train_cfg,
                lr=self.args.learning_rate,
                gpu=self.args.device.type == "cuda",
            )
            return self.optimizer
        return super().create_optimizer(model)

    def compute_loss(  # type: ignore[override]
            self, model: Any, inputs: Any, return_outputs: bool = False, **kwargs: Any) -> Any:
        if self.graphs is not None and not return_outputs and model.training:
            loss = self.graphs.loss(model, inputs)
            if loss is not None:
                return loss
        return super().compute_loss(model, inputs, return_outputs=return_outputs, **kwargs)

    def _prepare_input(self, data: Any) -> Any:
        if isinstance(data, torch.Tensor) and self.args.device.type == "cuda":
            return data.to(self.args.device, non_blocking=True)  # pinned by the DataLoader
        return super()._prepare_input(data)

    def _clip_grad_norm(self, model: Any) -> Any:
        inner = getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate wraps it
        if isinstance(inner, TableAdamW) and self.accelerator.scaler is None:
            return inner.clip_grad_norm_(self.args.max_grad_norm)  # a tensor: HF reads it when it logs
        return super()._clip_grad_norm(model)

    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler | None:
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if self.train_cfg is None or self.args.train_sampling_strategy != "group_by_length" or dataset is None:
            return super()._get_train_sampler(train_dataset)
        lengths = [len(f["input_ids"]) for f in cast(Any, dataset)]
        return LengthBuckets(lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps)

    def _get_eval_sampler(self, eval_dataset: Any) -> torch.utils.data.Sampler | None:
        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return None  # accelerate shards in order and gather_for_metrics puts the pieces back in order


class LengthBuckets(Sampler[int]):
    """Length-grouped batches that pad little and repeat their shapes: every epoch, a random order
    cut into megabatches of ``MEGA`` batches, each sorted by length and cut into batches, and the
    full batches shuffled (the one short batch last, so the DataLoader's cut stays aligned).

    Hugging Face's ``LengthGroupedSampler`` makes megabatches of at most a quarter of the data and
    yields each one's batches longest first; on 600 UD sentences it padded 25,216 token slots for
    16,265 tokens, these buckets 17,976: 29 % less arithmetic for the same examples."""

    MEGA = 50

    def __init__(self, lengths: list[int], batch_size: int) -> None:
        self.lengths, self.batch_size = lengths, batch_size

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Any:
        order = torch.randperm(len(self.lengths)).tolist()  # the Trainer seeds torch (data_seed)
        size = self.batch_size * self.MEGA
        full: list[list[int]] = []
        short: list[list[int]] = []
        for start in range(0, len(order), size):
            chunk = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            for k in range(0, len(chunk), self.batch_size):
                batch = chunk[k : k + self.batch_size]
                (full if len(batch) == self.batch_size else short).append(batch)
        shuffled = [full[i] for i in torch.randperm(len(full)).tolist()]
        return iter([i for batch in shuffled + short for i in batch])


class TimedCheckpoints(TrainerCallback):
    """Ask for a checkpoint every ``minutes`` of wall-clock time (0: never)."""

    def __init__(self, minutes: float) -> None:
        self.seconds, self.last = minutes * 60, time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        ending = state.global_step >= state.max_steps  # no checkpoint of a finished phase (NoFinalCheckpoint)
        if self.seconds > 0 and time.monotonic() - self.last >= self.seconds and not ending:
            control.should_save = True
        if control.should_save:
            self.last = time.monotonic()
        return control


class NoFinalCheckpoint(TrainerCallback):
    """HF saves model and optimiser state when training ends (GBs for XLM-R Large); a phase saves the
    weights it keeps itself and deletes its checkpoints right after, so that save only costs time."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        periodic = state.save_steps > 0 and state.global_step % state.save_steps == 0  # save_steps asked for it
        if state.global_step >= state.max_steps and not periodic:
            control.should_save = False
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
