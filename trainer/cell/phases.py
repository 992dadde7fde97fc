"""The two training phases of a cell: intermediate training (phase 1) and target fine-tuning (phase 2).

Both follow the recipe of ``trainer/cell/recipe.py``, select their best weights on English dev
(``trainer.cell.loop.DevSelection``) and delete their resume checkpoints when done. Tokenised training
data is cached under ``out/_features/`` by content, so every cell that trains on the same data
with the same tokenizer and lengths tokenises it once.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, set_seed
from transformers.trainer_utils import get_last_checkpoint

from trainer.cell import identity
from trainer.cell.dev import DevSet, evaluate_dev
from trainer.cell.loop import (
    CellTrainer,
    DevSelection,
    TimedCheckpoints,
    n_tokens,
    remove_checkpoints,
    throughput,
    training_args,
    use_gpu,
)
from trainer.cell.model import (
    HEAD_CLASSES,
    MultiTaskModel,
    MultiTaskTrainer,
    frozen_parameters,
    load_encoder,
    load_head_model,
)
from trainer.cell.recipe import phase_recipe
from trainer.cell.steps import Plan, TrainingSet
from trainer.cell.tokens import MultiTaskCollator, collator, encode
from trainer.cell.update import resolve_table
from trainer.config import CellConfig, TrainConfig, write_json
from trainer.world import is_main_process, world_size

# The knobs a feature cache entry depends on (with the tokenizer, the data and the format).
_FEATURE_KNOBS = ("max_seq_length", "qa_max_seq_length", "doc_stride")


def _barrier() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _fresh_or_resumed(phase_dir: Path, resume: bool) -> str | None:
    """The checkpoint to resume from; without resume the phase folder starts empty.

    Every rank has read the folder's state before rank 0 changes it, so all ranks decide alike.
    """
    checkpoint = get_last_checkpoint(str(phase_dir)) if resume and phase_dir.is_dir() else None
    _barrier()
    if not resume and phase_dir.exists() and is_main_process():
        shutil.rmtree(phase_dir)
    return checkpoint


def training_features(
    cfg: CellConfig, examples: list[dict[str, Any]], fmt: str, tokenizer: PreTrainedTokenizerBase, model_hash: str
) -> list[dict[str, Any]]:
    """``encode(..., train=True).features``, from the on-disk cache when the same data was encoded before."""
    if not cfg.train.cache_features:
        return encode(examples, fmt, tokenizer, cfg.train, train=True).features
    key = identity.json_hash(
        {
            "tokenizer": model_hash,
            "data": identity.data_hash(examples),
            "format": fmt,
            "knobs": {k: getattr(cfg.train, k) for k in _FEATURE_KNOBS},
        }
    )
    path = Path(cfg.out) / "_features" / f"{key}.pkl"
    if path.is_file():
        with open(path, "rb") as fh:
            return pickle.load(fh)  # noqa: S301 - written by this function, under the run's own out folder
    features = encode(examples, fmt, tokenizer, cfg.train, train=True).features
    if is_main_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(features, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    return features


def _callbacks(cfg: TrainConfig, selection: DevSelection | None) -> list[Any]:
    callbacks: list[Any] = [TimedCheckpoints(cfg.save_minutes)]
    if selection is not None:
        callbacks.append(selection)
    return callbacks


def phase1_fingerprint(cfg: CellConfig, plan: Plan, sets: list[TrainingSet]) -> Any:
    """What phase 1 depends on: the model's content, the data's content, the seed, the knobs."""
    fingerprint = {
        "model": plan.model_hash,
        "data": {s.task.id: identity.data_hash(s.split.examples) for s in sets},
        "seed": cfg.seed,
        "train": identity.config_knobs(cfg.train, resolve_table(cfg.train, use_gpu(cfg.train))),
        "world_size": world_size(),
    }
    return json.loads(json.dumps(fingerprint))


def phase1(
    cfg: CellConfig,
    plan: Plan,
    sets: list[TrainingSet],
    devs: list[DevSet | None],
    tokenizer: PreTrainedTokenizerBase,
) -> tuple[Path, str, dict[str, Any], CellTrainer | None]:
    """Intermediate training into out/<model>/_phase1/...; every target of the source reuses it.

    Returns the encoder folder, its identity (the fingerprint's hash), the phase's record and the
    trainer (None when a stored encoder was reused) for the English dev check.
    """
    assert plan.phase1_id is not None
    phase_dir = Path(cfg.out) / plan.phase1_id
    encoder_dir = phase_dir / "encoder"
    recipe = phase_recipe(cfg.train, [s.task for s in sets])
    # TrainingArguments set up DDP under torchrun, so they come first.
    args = training_args(
        cfg.train, phase_dir, cfg.seed, epochs=recipe.epochs, batch_size=recipe.batch_size, multi_task=True
    )
    fingerprint = phase1_fingerprint(cfg, plan, sets)
    encoder_id = identity.json_hash(fingerprint)
    done = _read_json(phase_dir / "done.json")
    if done is not None and done.get("fingerprint") == fingerprint and encoder_dir.is_dir():
        return encoder_dir, encoder_id, {"reused": str(phase_dir), "dev_selection": done.get("dev_selection")}, None
    same_run = _read_json(phase_dir / "fingerprint.json") == fingerprint
    resumed = _fresh_or_resumed(phase_dir, cfg.resume and same_run)
    if is_main_process():
        write_json(phase_dir / "fingerprint.json", fingerprint)
    features = []
    for k, s in enumerate(sets):
        encoded = training_features(cfg, s.split.examples, s.task.format, tokenizer, plan.model_hash)
        features += [{**f, "task": k} for f in encoded]
    set_seed(cfg.seed)
    encoder = load_encoder(cfg.model, cfg.train.attn_implementation, freeze=cfg.train.freeze_embeddings)
    model = MultiTaskModel(encoder, [(s.task.format, len(s.task.labels or ())) for s in sets])
    frozen = frozen_parameters(model)
    trainer = MultiTaskTrainer(
        model=model,
        args=args,
        train_cfg=cfg.train,
        train_dataset=features,  # type: ignore[arg-type]
        data_collator=MultiTaskCollator([collator(s.task.format, tokenizer, use_gpu(cfg.train)) for s in sets]),
    )
    selection = None
    scored = [(k, d) for k, d in enumerate(devs) if d is not None]
    if cfg.train.dev_selection and scored:

        def mean_dev() -> dict[str, float]:
            scores = {d.task.id: evaluate_dev(trainer, d, tokenizer, cfg.train, k)[d.task.metric] for k, d in scored}
            return {"mean": sum(scores.values()) / len(scores), **scores}

        selection = DevSelection(mean_dev, "mean", cfg.train.early_stopping_patience, cfg.train.eval_steps)
    for callback in _callbacks(cfg.train, selection):
        trainer.add_callback(callback)
    result = trainer.train(resume_from_checkpoint=resumed)
    info = {
        "tasks": {s.task.id: len(s.split) for s in sets},
        "recipe": {"epochs": recipe.epochs, "batch_size": recipe.batch_size},
        # what the phase trained with and each dev set's chance: the recipe's record (bench/recipes.py)
        "knobs": {"learning_rate": cfg.train.learning_rate, "freeze_embeddings": cfg.train.freeze_embeddings,
                  "max_train_samples": cfg.train.max_train_samples, "max_steps": cfg.train.max_steps},
        "dev_chance": {d.task.id: d.chance for _, d in scored},
        "frozen_parameters": frozen,
        **throughput(result, trainer, n_tokens(features), resumed),
        "dev_selection": selection.restore() if selection is not None else None,
    }
    if trainer.is_world_process_zero():
        encoder.save_pretrained(encoder_dir)
        tokenizer.save_pretrained(encoder_dir)
        write_json(phase_dir / "done.json", {**info, "fingerprint": fingerprint})
        remove_checkpoints(phase_dir)
    trainer.accelerator.wait_for_everyone()  # phase 2 on every rank loads what rank 0 saved
    return encoder_dir, encoder_id, info, trainer


def phase2(
    cfg: CellConfig,
    plan: Plan,
    train_set: TrainingSet,
    dev: DevSet | None,
    encoder_dir: Path,
    encoder_id: str,
    tokenizer: PreTrainedTokenizerBase,
    out: Path,
) -> tuple[CellTrainer, dict[str, Any]]:
    """Target-task fine-tuning; returns a Trainer holding the (best) model, ready to predict."""
    phase_dir, model_dir = out / "phase2", out / "phase2" / "model"
    fmt = plan.target.format
    gpu = use_gpu(cfg.train)
    recipe = phase_recipe(cfg.train, [train_set.task])
    args = training_args(
        cfg.train, phase_dir, cfg.seed, epochs=recipe.epochs, batch_size=recipe.batch_size, multi_task=False
    )
    # A stored phase 2 is reused only if it was trained on the same encoder with the same knobs.
    knobs = identity.config_knobs(cfg.train, resolve_table(cfg.train, gpu))
    stamp = {"encoder": encoder_id, "train": knobs, "world_size": world_size()}
    stamp = json.loads(json.dumps(stamp))
    done = _read_json(phase_dir / "done.json")
    if cfg.resume and done is not None and done.get("stamp") == stamp and model_dir.is_dir():
        model = HEAD_CLASSES[fmt].from_pretrained(str(model_dir), attn_implementation=cfg.train.attn_implementation)
        model.accepts_loss_kwargs = False
        return CellTrainer(model=model, args=args, data_collator=collator(fmt, tokenizer, gpu)), {"reused": True}
    same_run = _read_json(phase_dir / "stamp.json") == stamp
    resumed = _fresh_or_resumed(phase_dir, cfg.resume and same_run)
    if is_main_process():
        write_json(phase_dir / "stamp.json", stamp)
    features = training_features(cfg, train_set.split.examples, fmt, tokenizer, plan.model_hash)
    set_seed(cfg.seed)
    model = load_head_model(
        encoder_dir, fmt, train_set.task.labels, cfg.train.attn_implementation, freeze=cfg.train.freeze_embeddings
    )
    frozen = frozen_parameters(model)
    trainer = CellTrainer(
        model=model,
        args=args,
        train_cfg=cfg.train,
        train_dataset=features,  # type: ignore[arg-type]
        data_collator=collator(fmt, tokenizer, gpu),
        processing_class=tokenizer,
    )
    selection = None
    if cfg.train.dev_selection and dev is not None:
        selection = DevSelection(
            lambda: evaluate_dev(trainer, dev, tokenizer, cfg.train),
            train_set.task.metric,
            cfg.train.early_stopping_patience,
            cfg.train.eval_steps,
        )
    for callback in _callbacks(cfg.train, selection):
        trainer.add_callback(callback)
    result = trainer.train(resume_from_checkpoint=resumed)
    info = {
        "examples": len(train_set.split),
        "recipe": {"epochs": recipe.epochs, "batch_size": recipe.batch_size},
        "frozen_parameters": frozen,
        **throughput(result, trainer, n_tokens(features), resumed),
        "dev_selection": selection.restore() if selection is not None else None,
    }
    trainer.save_model(str(model_dir))
    if is_main_process():
        write_json(phase_dir / "done.json", {**info, "stamp": stamp})
        remove_checkpoints(phase_dir)
    return trainer, info
