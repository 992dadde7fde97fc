"""One cell of the transfer matrix, top to bottom (``stepstone train cell ...``).

  phase 1  intermediate training on the source task(s) -> out/<model>/_phase1/<source>/encoder
  phase 2  fine-tuning a fresh head of the target task on English -> out/<cell>/phase2/model
  phase 3  zero-shot evaluation in every target language -> runs in the store, result.json

Baseline cells (``--source-task none``) skip phase 1; retrieval targets skip phase 2. Each
training phase follows the X-STILTs recipe (``trainer/cell/recipe.py``), selects its best weights on
English dev, and is itself evaluated on English dev when it ends: a phase that ends near chance
is reported loudly and its runs carry the ``near_chance`` flag. A phase-1 encoder is trained
once per (model, source, language, size, seed) and reused while its fingerprint matches; with
``resume`` a finished phase 2 is reused only if it was trained on the same encoder.
Under ``torchrun`` every process trains (the HF Trainer's DDP); only rank 0 writes.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from feature_store.errors import InvalidData
from feature_store.runs.run import Run
from feature_store.runs.store import RunStore
from trainer.cell import identity
from trainer.cell.dev import DevSet, dev_check, dev_set, stored_dev_check
from trainer.cell.evaluate import evaluate_retrieval, evaluate_splits
from trainer.cell.loop import use_gpu
from trainer.cell.phases import phase1, phase2
from trainer.cell.steps import Plan, intermediate_sets, is_done, load_training_set, make_plan, make_runs, source_size
from trainer.cell.update import resolve_table
from trainer.config import CellConfig, to_jsonable, write_json
from trainer.data.files import encode_labels, eval_cap, find_files, read_files, refuse_blank_answers, require_files
from trainer.data.retrieval import RetrievalSet, load_retrieval
from trainer.world import is_main_process, world_size

log = logging.getLogger("stepstone.trainer")


@dataclass
class CellResult:
    cell_id: str  # out/<cell_id>/ holds the artefacts
    scores: dict[str, float]  # language -> the task's metric (0-100)
    runs: list[Run] = field(default_factory=list)  # what was written to the store
    skipped: bool = False  # True when --resume found every run already stored
    artefact: Path | None = None  # result.json
    warnings: list[str] = field(default_factory=list)  # e.g. a phase that ended near chance
    dev: dict[str, Any] = field(default_factory=dict)  # English dev scores after each phase


def config_hash(cfg: CellConfig) -> str:
    """The runs' ``config_hash``: the knobs that change the numbers, and the world size."""
    table = resolve_table(cfg.train, use_gpu(cfg.train))
    knobs: dict[str, Any] = {"train": identity.config_knobs(cfg.train, table), "world_size": world_size()}
    if cfg.phase1_train is not None:  # the baseline of such a target carries it too, so they still match
        phase1_table = resolve_table(cfg.phase1_train, use_gpu(cfg.train))
        knobs["phase1_train"] = identity.config_knobs(cfg.phase1_train, phase1_table)
    if cfg.source_train:  # every cell of such a matrix, baselines too, so they still match
        knobs["source_train"] = cfg.source_train
    return identity.json_hash(knobs)


def eval_splits(cfg: CellConfig, plan: Plan) -> dict[str, str]:
    """The split each target language is evaluated on (test when it exists, under "auto")."""
    if cfg.train.eval_split != "auto":
        return {lang: cfg.train.eval_split for lang in plan.languages}
    out = {}
    for lang in plan.languages:
        if plan.target.format == "retrieval":
            out[lang] = "test"
            for split in ("test", "dev"):
                try:
                    load_retrieval(cfg.data, plan.target.id, (split,), lang)
                    out[lang] = split
                    break
                except InvalidData:
                    continue
        else:
            out[lang] = "test" if find_files(cfg.data, plan.target.id, "test", lang) else "dev"
    return out


def load_eval_sets(
    cfg: CellConfig, plan: Plan, labels: tuple[str, ...] | None, splits: dict[str, str]
) -> dict[str, Any]:
    """Each target language's evaluation data, read up front so bad files fail before training."""
    fmt = plan.target.format
    sets: dict[str, Any] = {}
    for lang in plan.languages:
        if fmt == "retrieval":
            sets[lang] = load_retrieval(cfg.data, plan.target.id, (splits[lang],), lang)
            continue
        split_name, paths = require_files(cfg.data, plan.target.id, (splits[lang],), lang)
        split = read_files(paths, fmt, split_name)
        if fmt == "qa":
            refuse_blank_answers(split)
        encode_labels(split, fmt, labels, other_tags_to_o=plan.target.other_tags_to_o)
        sets[lang] = eval_cap(split, cfg.train.max_eval_samples, cfg.train.eval_cap)
    return sets


def _retrieval_dev_sets(cfg: CellConfig, plan: Plan) -> dict[str, RetrievalSet | None]:
    """BUCC's dev gold, to choose the mining threshold on (XTREME); None where there is none."""
    out: dict[str, RetrievalSet | None] = {}
    for lang in plan.languages:
        try:
            out[lang] = load_retrieval(cfg.data, plan.target.id, ("dev",), lang)
        except InvalidData:
            out[lang] = None
    return out


def phase3(
    cfg: CellConfig,
    plan: Plan,
    trainer: Any,
    labels: tuple[str, ...] | None,
    eval_sets: dict[str, Any],
    encoder_dir: Path,
    tokenizer: PreTrainedTokenizerBase,
) -> dict[str, dict[str, float]]:
    """Zero-shot evaluation: the task's metrics per target language."""
    if plan.target.format == "retrieval":
        device = torch.device("cuda" if use_gpu(cfg.train) else "cpu")
        dev_sets = _retrieval_dev_sets(cfg, plan) if plan.target.metric == "f1" else {}
        return evaluate_retrieval(encoder_dir, tokenizer, eval_sets, dev_sets, plan.target.metric, cfg.train, device)
    assert trainer is not None
    return evaluate_splits(trainer, eval_sets, plan.target.format, labels, tokenizer, cfg.train, task_id=plan.target.id)


def run_cell(cfg: CellConfig, store: RunStore | None = None) -> CellResult:
    """Run the three phases of one cell and write its runs (one per language) and artefact."""
    started = time.perf_counter()
    plan = make_plan(cfg)
    p1cfg = cfg.phase1_config()
    sets = intermediate_sets(p1cfg, plan) if plan.sources else []
    size = source_size(sets)
    chash = config_hash(cfg)
    splits = eval_splits(cfg, plan)
    if cfg.resume and store is not None and is_done(store, cfg, plan, size, chash, splits):
        return CellResult(plan.cell_id, {}, skipped=True)
    # All data is read before any training, so that a bad file fails in seconds, not hours.
    train_set = None
    if plan.target.format != "retrieval":
        train_set = load_training_set(cfg, plan.target, plan.phase2_language)
    labels = train_set.task.labels if train_set is not None else None
    eval_sets = load_eval_sets(cfg, plan, labels, splits)
    target_dev: DevSet | None = None
    if train_set is not None:
        target_dev = dev_set(cfg, train_set.task, plan.phase2_language)
    source_devs = [dev_set(p1cfg, s.task, plan.source_language) for s in sets]
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
    result = CellResult(plan.cell_id, {})
    encoder_dir, encoder_id = Path(cfg.model), plan.model_hash
    if sets:
        t = time.perf_counter()
        encoder_dir, encoder_id, phases["phase1"], p1_trainer = phase1(p1cfg, plan, sets, source_devs, tokenizer)
        timings["phase1_s"] = time.perf_counter() - t
        for k, (s, dev) in enumerate(zip(sets, source_devs, strict=True)):
            if dev is None:
                continue
            if p1_trainer is not None:
                result.dev[f"phase1:{s.task.id}"] = dev_check(p1_trainer, dev, tokenizer, p1cfg.train, k)
            elif (check := stored_dev_check(phases["phase1"], dev)) is not None:
                result.dev[f"phase1:{s.task.id}"] = check  # an encoder trained by another job or cell
        del p1_trainer
    trainer = None
    if train_set is not None:
        t = time.perf_counter()
        trainer, phases["phase2"] = phase2(cfg, plan, train_set, target_dev, encoder_dir, encoder_id, tokenizer, out)
        timings["phase2_s"] = time.perf_counter() - t
        if target_dev is not None:
            result.dev["phase2"] = dev_check(trainer, target_dev, tokenizer, cfg.train)
    for name, check in result.dev.items():
        if check["near_chance"]:
            result.warnings.append(
                f"WARNING: {name} ended near chance on English dev: {check['metric']} {check['score']:.1f} "
                f"(chance {check['chance']:.1f}); this cell's scores are probably meaningless"
            )
    for message in result.warnings:
        log.warning(message)
    t = time.perf_counter()
    metrics = phase3(cfg, plan, trainer, labels, eval_sets, encoder_dir, tokenizer)
    timings["phase3_s"] = time.perf_counter() - t
    result.scores = {lang: m[plan.target.metric] for lang, m in metrics.items()}
    flags = ",".join(f"near_chance:{name}" for name, c in result.dev.items() if c["near_chance"])
    if is_main_process():
        result.runs = make_runs(store, cfg, plan, result.scores, size, config_hash=chash, splits=splits, flags=flags)
        if store is not None:
            store.insert(result.runs)
        timings["total_s"] = time.perf_counter() - started
        result.artefact = out / "result.json"
        write_json(
            result.artefact,
            {
                "cell_id": plan.cell_id,
                "config": to_jsonable(cfg),
                "config_hash": chash,
                "model": {"name": plan.model_name, "hash": plan.model_hash},
                "target": plan.target,
                "sources": plan.sources,
                "source_size": size,
                "metric": plan.target.metric,
                "splits": splits,
                "scores": result.scores,
                "metrics": metrics,
                "english_dev": result.dev,
                "warnings": result.warnings,
                "phases": phases,
                "timings": timings,
                "runs": [r.as_dict() for r in result.runs],
                "environment": {
                    "torch": torch.__version__,
                    "transformers": transformers.__version__,
                    "python": platform.python_version(),
                    "device": torch.cuda.get_device_name() if use_gpu(cfg.train) else "cpu",
                    "world_size": world_size(),
                },
            },
        )
        if not cfg.train.keep_models:  # the phase-1 encoder stays: other targets of the source reuse it
            shutil.rmtree(out / "phase2", ignore_errors=True)
    return result
