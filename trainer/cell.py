"""One cell of the transfer matrix, top to bottom (``stepstone train cell ...``).

  phase 1  intermediate training on the source task(s) -> out/<model>/_phase1/<source>/encoder
  phase 2  fine-tuning a fresh head of the target task on English -> out/<cell>/phase2/model
  phase 3  zero-shot evaluation in every target language -> runs in the store, result.json

Baseline cells (``--source-task none``) skip phase 1; retrieval targets skip phase 2. A phase-1
encoder is trained once per (model, source, language, size, seed) and reused by every target
while its fingerprint (data, knobs) matches. With ``resume`` a finished phase 2 is reused and an
unfinished phase restarts from its last checkpoint.
Under ``torchrun`` every process trains (the HF Trainer's DDP); only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from feature_store.errors import InvalidData
from feature_store.runs import Run, RunStore
from trainer.config import CellConfig, TrainConfig, to_jsonable, write_json
from trainer.data import encode_labels, head, read_split, require_file
from trainer.evaluate import evaluate_retrieval, evaluate_split
from trainer.features import MultiTaskCollator, collator, encode
from trainer.model import HEAD_CLASSES, MultiTaskModel, MultiTaskTrainer, load_encoder, load_head_model
from trainer.plan import (
    Plan,
    TrainingSet,
    intermediate_sets,
    is_done,
    load_training_set,
    make_plan,
    make_runs,
    source_size,
)
from trainer.retrieval import load_retrieval


@dataclass
class CellResult:
    cell_id: str  # out/<cell_id>/ holds the artefacts
    scores: dict[str, float]  # language -> the task's metric (0-100)
    runs: list[Run] = field(default_factory=list)  # what was written to the store
    skipped: bool = False  # True when --resume found every run already stored
    artefact: Path | None = None  # result.json


def is_main_process() -> bool:
    """Rank 0 under torchrun (RANK is set by it), or the only process."""
    return int(os.environ.get("RANK", "0")) == 0


def use_gpu(cfg: TrainConfig) -> bool:
    return torch.cuda.is_available() and not cfg.use_cpu


def training_args(cfg: TrainConfig, out_dir: Path, seed: int, *, multi_task: bool) -> TrainingArguments:
    gpu = use_gpu(cfg)
    return TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        bf16=gpu and cfg.bf16,
        optim="adamw_torch_fused" if gpu else "adamw_torch",
        torch_compile=cfg.torch_compile,
        # Multi-task batches come from ProportionalBatchSampler, not the Trainer's sampler.
        train_sampling_strategy="group_by_length" if cfg.group_by_length and not multi_task else "random",
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        logging_steps=cfg.logging_steps,
        report_to="none",
        seed=seed,
        data_seed=seed,
        use_cpu=not gpu,
        dataloader_pin_memory=gpu,
        dataloader_num_workers=cfg.dataloader_num_workers,
        include_num_input_tokens_seen="non_padding",
        # Each multi-task step uses one head, so DDP must expect unused parameters.
        ddp_find_unused_parameters=multi_task,
        remove_unused_columns=not multi_task,
    )


def _barrier() -> None:
    """Under torchrun: wait until every rank is here (TrainingArguments set up the process group)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _fresh_or_resumed(phase_dir: Path, resume: bool) -> str | None:
    """The checkpoint to resume from; without resume the phase folder starts empty.

    Every rank has read the folder's state before rank 0 changes it, so all ranks decide alike.
    """
    checkpoint = get_last_checkpoint(str(phase_dir)) if resume and phase_dir.is_dir() else None
    _barrier()
    if not resume and phase_dir.exists() and is_main_process():
        shutil.rmtree(phase_dir)
    return checkpoint


def _throughput(result: Any, trainer: Trainer, resumed: str | None) -> dict[str, Any]:
    runtime = float(result.metrics.get("train_runtime", 0.0))
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    return {
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "runtime_s": runtime,
        "samples_per_s": result.metrics.get("train_samples_per_second"),
        "tokens": tokens,
        "tokens_per_s": tokens / runtime if runtime else None,
        "resumed_from": resumed,
    }


# The TrainConfig fields that change what phase 1 learns; a stored encoder is reused only if they match.
PHASE1_KNOBS = (
    "epochs",
    "learning_rate",
    "batch_size",
    "gradient_accumulation_steps",
    "warmup_ratio",
    "weight_decay",
    "max_seq_length",
    "qa_max_seq_length",
    "doc_stride",
    "max_steps",
    "max_train_samples",
    "bf16",
)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def phase1_fingerprint(cfg: CellConfig, sets: list[TrainingSet]) -> Any:
    """What phase 1 depends on, as JSON: the model, the data actually used, the seed and the knobs."""
    fingerprint = {
        "model": str(Path(cfg.model).resolve()),
        "data": {s.task.id: [str(s.split.path.resolve()), len(s.split)] for s in sets},
        "seed": cfg.seed,
        "train": {k: getattr(cfg.train, k) for k in PHASE1_KNOBS},
    }
    return json.loads(json.dumps(fingerprint))


def phase1(
    cfg: CellConfig, plan: Plan, sets: list[TrainingSet], tokenizer: PreTrainedTokenizerBase
) -> tuple[Path, dict[str, Any]]:
    """Intermediate training into out/<model>/_phase1/...; every target of the source reuses it."""
    assert plan.phase1_id is not None
    phase_dir = Path(cfg.out) / plan.phase1_id
    encoder_dir = phase_dir / "encoder"
    args = training_args(cfg.train, phase_dir, cfg.seed, multi_task=True)  # sets up DDP under torchrun
    fingerprint = phase1_fingerprint(cfg, sets)
    done = _read_json(phase_dir / "done.json")
    if done is not None and done.get("fingerprint") == fingerprint and encoder_dir.is_dir():
        return encoder_dir, {"reused": str(phase_dir)}
    same_run = _read_json(phase_dir / "fingerprint.json") == fingerprint
    resumed = _fresh_or_resumed(phase_dir, cfg.resume and same_run)
    if is_main_process():
        write_json(phase_dir / "fingerprint.json", fingerprint)
    features = []
    for k, s in enumerate(sets):
        encoded = encode(s.split.examples, s.task.format, tokenizer, cfg.train, train=True)
        features += [{**f, "task": k} for f in encoded.features]
    set_seed(cfg.seed)
    encoder = load_encoder(cfg.model, cfg.train.attn_implementation)
    model = MultiTaskModel(encoder, [(s.task.format, len(s.task.labels or ())) for s in sets])
    trainer = MultiTaskTrainer(
        model=model,
        args=args,
        train_dataset=features,  # type: ignore[arg-type]
        data_collator=MultiTaskCollator([collator(s.task.format, tokenizer, use_gpu(cfg.train)) for s in sets]),
    )
    result = trainer.train(resume_from_checkpoint=resumed)
    if trainer.is_world_process_zero():
        encoder.save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)
    info = {"tasks": {s.task.id: len(s.split) for s in sets}, **_throughput(result, trainer, resumed)}
    if is_main_process():
        write_json(phase_dir / "done.json", {**info, "fingerprint": fingerprint})
    trainer.accelerator.wait_for_everyone()  # phase 2 on every rank loads what rank 0 saved
    return encoder_dir, info


def phase2(
    cfg: CellConfig,
    plan: Plan,
    train_set: TrainingSet,
    encoder_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
) -> tuple[Trainer, dict[str, Any]]:
    """Target-task fine-tuning; returns a Trainer holding the model, ready to predict."""
    phase_dir, model_dir = out / "phase2", out / "phase2" / "model"
    fmt = plan.target.format
    gpu = use_gpu(cfg.train)
    args = training_args(cfg.train, phase_dir, cfg.seed, multi_task=False)
    if cfg.resume and (phase_dir / "done.json").is_file():
        model = HEAD_CLASSES[fmt].from_pretrained(str(model_dir), attn_implementation=cfg.train.attn_implementation)
        return Trainer(model=model, args=args, data_collator=collator(fmt, tokenizer, gpu)), {"reused": True}
    resumed = _fresh_or_resumed(phase_dir, cfg.resume)
    features = encode(train_set.split.examples, fmt, tokenizer, cfg.train, train=True).features
    set_seed(cfg.seed)
    model = load_head_model(encoder_dir, fmt, train_set.task.labels, cfg.train.attn_implementation)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=features,  # type: ignore[arg-type]
        data_collator=collator(fmt, tokenizer, gpu),
        processing_class=tokenizer,
    )
    result = trainer.train(resume_from_checkpoint=resumed)
    trainer.save_model(str(model_dir))
    info = {"examples": len(train_set.split), **_throughput(result, trainer, resumed)}
    if is_main_process():
        write_json(phase_dir / "done.json", info)
    return trainer, info


def load_eval_sets(cfg: CellConfig, plan: Plan, labels: tuple[str, ...] | None) -> dict[str, Any]:
    """Each target language's test (or dev) data, read up front so bad files fail before training."""
    splits = ("test", "dev") if cfg.train.eval_split == "auto" else (cfg.train.eval_split,)
    fmt = plan.target.format
    sets: dict[str, Any] = {}
    for lang in plan.languages:
        if fmt == "retrieval":
            sets[lang] = load_retrieval(cfg.data, plan.target.id, splits, lang)
            continue
        split = read_split(require_file(cfg.data, plan.target.id, splits, lang), fmt)
        encode_labels(split, fmt, labels)
        sets[lang] = head(split, cfg.train.max_eval_samples)
    return sets


def phase3(
    cfg: CellConfig,
    plan: Plan,
    trainer: Trainer | None,
    labels: tuple[str, ...] | None,
    eval_sets: dict[str, Any],
    encoder_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
) -> dict[str, dict[str, float]]:
    """Zero-shot evaluation: the task's metrics per target language."""
    if plan.target.format == "retrieval":
        device = torch.device("cuda" if use_gpu(cfg.train) else "cpu")
        return evaluate_retrieval(encoder_dir, tokenizer, eval_sets, plan.target.metric, cfg.train, device)
    assert trainer is not None
    return {
        lang: evaluate_split(trainer, split, plan.target.format, labels, tokenizer, cfg.train)
        for lang, split in eval_sets.items()
    }


def run_cell(cfg: CellConfig, store: RunStore | None = None) -> CellResult:
    """Run the three phases of one cell and write its runs (one per language) and artefact."""
    started = time.perf_counter()
    plan = make_plan(cfg)
    sets = intermediate_sets(cfg, plan) if plan.sources else []
    size = source_size(sets)
    if cfg.resume and store is not None and is_done(store, cfg, plan, size):
        return CellResult(plan.cell_id, {}, skipped=True)
    # All data is read before any training, so that a bad file fails in seconds, not hours.
    train_set = None
    if plan.target.format != "retrieval":
        train_set = load_training_set(cfg, plan.target, plan.phase2_language)
    labels = train_set.task.labels if train_set is not None else None
    eval_sets = load_eval_sets(cfg, plan, labels)
    out = Path(cfg.out) / plan.cell_id
    if is_main_process():
        write_json(out / "config.json", cfg)
    tokenizer = AutoTokenizer.from_pretrained(str(cfg.model))
    if not tokenizer.is_fast:
        raise InvalidData(
            "the trainer needs a fast tokenizer (tokenizer.json) for offsets and word ids", path=str(cfg.model)
        )
    phases: dict[str, Any] = {}
    timings: dict[str, float] = {}
    encoder_dir = Path(cfg.model)
    if sets:
        t = time.perf_counter()
        encoder_dir, phases["phase1"] = phase1(cfg, plan, sets, tokenizer)
        timings["phase1_s"] = time.perf_counter() - t
    trainer = None
    if train_set is not None:
        t = time.perf_counter()
        trainer, phases["phase2"] = phase2(cfg, plan, train_set, encoder_dir, tokenizer, out)
        timings["phase2_s"] = time.perf_counter() - t
    t = time.perf_counter()
    metrics = phase3(cfg, plan, trainer, labels, eval_sets, encoder_dir, tokenizer)
    timings["phase3_s"] = time.perf_counter() - t
    scores = {lang: m[plan.target.metric] for lang, m in metrics.items()}
    result = CellResult(plan.cell_id, scores)
    if is_main_process():
        result.runs = make_runs(store, cfg, plan, scores, size)
        if store is not None:
            store.insert(result.runs)
        timings["total_s"] = time.perf_counter() - started
        result.artefact = out / "result.json"
        write_json(
            result.artefact,
            {
                "cell_id": plan.cell_id,
                "config": to_jsonable(cfg),
                "target": plan.target,
                "sources": plan.sources,
                "source_size": size,
                "metric": plan.target.metric,
                "scores": scores,
                "metrics": metrics,
                "phases": phases,
                "timings": timings,
                "runs": [r.as_dict() for r in result.runs],
                "environment": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "python": platform.python_version(),
                    "device": torch.cuda.get_device_name() if use_gpu(cfg.train) else "cpu",
                },
            },
        )
        if not cfg.train.keep_models:  # the phase-1 encoder stays: other targets of the source reuse it
            shutil.rmtree(out / "phase2", ignore_errors=True)
    return result
