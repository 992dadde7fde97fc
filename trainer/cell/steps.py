"""What a cell will do, worked out from its config and the data folder before any model loads.

Also the run-store side of a cell: whether its runs are already there (``--resume``), the
baseline scores to fill in, and the runs it writes. No torch here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from feature_store.errors import InvalidData, InvalidRequest
from feature_store.languages import resolve as resolve_language
from feature_store.runs.run import Run
from feature_store.runs.store import RunStore
from trainer.cell import identity
from trainer.config import CellConfig
from trainer.data.files import (
    Split,
    encode_labels,
    find_file,
    find_files,
    infer_labels,
    read_files,
    read_split,
    subsample,
)
from trainer.data.tasks import TaskSpec, canonical_id, infer_format, known_task, split_sources

_DEFAULT_METRIC = {"qa": "f1", "tagging": "f1"}


@dataclass
class TrainingSet:
    """One task's training split, labels encoded."""

    task: TaskSpec
    split: Split


@dataclass
class Plan:
    cell_id: str  # out/<cell_id>/ holds the artefacts: model/target/source.lang/seedN[.nSIZE]
    phase1_id: str | None  # out/<phase1_id>/: the phase-1 encoder, shared by every target of the source
    model_name: str  # the runs' `model` column: the model folder's name
    model_hash: str  # the runs' `model_hash`: the folder's content (trainer.cell.identity)
    target: TaskSpec  # the target task, format known
    languages: list[str]  # ISO 639-3 target languages
    sources: list[TaskSpec]  # phase-1 tasks; empty for cells without phase 1
    source_task: str  # the runs' `source_task`: "mnli", "mnli+squad", or the target for same-task cells
    source_language: str  # ISO 639-3
    phase2_language: str  # the language of the phase-2 training data (English unless same-task)
    is_baseline: bool  # the plain zero-shot baseline: target task, English, no phase 1


def resolve_task(task_id: str, data_dir: Path, language: str = "eng") -> TaskSpec:
    """The table's spec, or one inferred from the first record of a canonical JSONL file."""
    spec = known_task(task_id)
    if spec is not None:
        return spec
    for split in ("train", "test", "dev"):
        path = find_file(data_dir, task_id, split, language)
        if path is not None and path.suffix == ".jsonl":
            head = read_split(path, None)
            fmt = infer_format(head.examples[0])
            if fmt is None:
                raise InvalidData(
                    f"cannot tell the task format from the fields {sorted(head.examples[0])}",
                    path=str(path),
                    line=head.lines[0],
                )
            return TaskSpec(canonical_id(task_id), fmt, _DEFAULT_METRIC.get(fmt, "accuracy"))
    raise InvalidData(
        f"unknown task {task_id!r} and no {task_id}/train-{language}.jsonl to infer its format from", path=str(data_dir)
    )


def make_plan(cfg: CellConfig) -> Plan:
    target = resolve_task(cfg.target_task, cfg.data)
    languages = list(dict.fromkeys(resolve_language(lang) for lang in cfg.languages))
    if not languages:
        raise InvalidRequest("no target languages given")
    source_language = resolve_language(cfg.source_language)
    same_task = cfg.source_task.strip().lower() in ("none", "") or canonical_id(cfg.source_task) == target.id
    if same_task:
        sources: list[TaskSpec] = []
        source_task = target.id
        phase2_language = source_language
        if target.format == "retrieval" and source_language != "eng":
            raise InvalidRequest(
                f"retrieval target {target.id!r} has no training data to take from {source_language!r}"
            )
    else:
        sources = [resolve_task(t, cfg.data, source_language) for t in split_sources(cfg.source_task)]
        for s in sources:
            if s.format == "retrieval":
                raise InvalidRequest(f"{s.id!r} is a retrieval task and cannot be trained on")
        source_task = "+".join(s.id for s in sources)
        phase2_language = "eng"
    model_name = Path(cfg.model).resolve().name
    model_hash = identity.model_hash(Path(cfg.model))
    model_id = f"{model_name}.{model_hash[:8]}"  # two folders both called model/ are two models
    slug = "baseline" if same_task and source_language == "eng" else source_task
    run_key = f"{source_language}/seed{cfg.seed}" + (f".n{cfg.intermediate_size}" if cfg.intermediate_size else "")
    cell_id = f"{model_id}/{target.id}/{slug}.{run_key}"
    phase1_id = f"{model_id}/_phase1/{source_task}.{run_key}" if sources else None
    return Plan(
        cell_id,
        phase1_id,
        model_name,
        model_hash,
        target,
        languages,
        sources,
        source_task,
        source_language,
        phase2_language,
        is_baseline=same_task and source_language == "eng",
    )


def load_training_set(cfg: CellConfig, task: TaskSpec, language: str) -> TrainingSet:
    paths = find_files(cfg.data, task.id, "train", language)
    if not paths:
        raise InvalidData(
            f"no training data for task {task.id!r} in {language!r} (expected e.g. {task.id}/train-{language}.jsonl)",
            path=str(cfg.data),
        )
    split = read_files(paths, task.format, "train")
    labels = task.labels
    if labels is None and task.format in ("classification", "pair", "tagging"):
        labels = infer_labels(split, task.format)
    encode_labels(split, task.format, labels, other_tags_to_o=task.other_tags_to_o)
    split = subsample(split, cfg.train.max_train_samples, cfg.seed)
    return TrainingSet(replace(task, labels=labels), split)


def intermediate_sets(cfg: CellConfig, plan: Plan) -> list[TrainingSet]:
    """Phase-1 data: each source task's training split, the union cut to intermediate_size."""
    sets = [load_training_set(cfg, task, plan.source_language) for task in plan.sources]
    total = sum(len(s.split) for s in sets)
    if cfg.intermediate_size and cfg.intermediate_size < total:
        # A seeded sample of the union keeps each task's share of the data.
        union = [(k, i) for k, s in enumerate(sets) for i in range(len(s.split))]
        keep = set(random.Random(cfg.seed).sample(union, cfg.intermediate_size))
        for k, s in enumerate(sets):
            s.split = s.split.take([i for i in range(len(s.split)) if (k, i) in keep])
    return sets


def source_size(sets: list[TrainingSet]) -> float | None:
    """The runs' `source_size`: intermediate examples trained on; None for cells without phase 1."""
    return float(sum(len(s.split) for s in sets)) if sets else None


def _runs_for(
    store: RunStore,
    cfg: CellConfig,
    plan: Plan,
    language: str,
    source_task: str,
    source_language: str,
    config_hash: str,
    split: str,
) -> list[Run]:
    """Stored runs of the same model content, configuration, evaluated split and seed."""
    found = store.query(
        dataset=cfg.dataset,
        model=plan.model_name,
        target_task=plan.target.id,
        target_language=language,
        source_task=source_task,
        source_language=source_language,
    )
    return [
        r
        for r in found
        if r.seed == cfg.seed and (r.model_hash, r.config_hash, r.split) == (plan.model_hash, config_hash, split)
    ]


def is_done(
    store: RunStore, cfg: CellConfig, plan: Plan, size: float | None, config_hash: str, splits: dict[str, str]
) -> bool:
    """Every language of the cell already has its run in the store (same identity, same size)."""
    return all(
        any(
            r.source_size == size
            for r in _runs_for(
                store, cfg, plan, lang, plan.source_task, plan.source_language, config_hash, splits[lang]
            )
        )
        for lang in plan.languages
    )


def make_runs(
    store: RunStore | None,
    cfg: CellConfig,
    plan: Plan,
    scores: dict[str, float],
    size: float | None,
    *,
    config_hash: str = "",
    splits: dict[str, str] | None = None,
    flags: str = "",
) -> list[Run]:
    """One run per language; baseline_score from the same seed's baseline cell when it is stored.

    The baseline must share the model content, evaluated split and configuration (the
    configuration hash of a baseline cell equals that of the intermediate cells of the same knobs).
    """
    splits = splits or {}
    runs = []
    for lang, score in scores.items():
        split = splits.get(lang, "")
        baseline = score if plan.is_baseline else None
        if baseline is None and store is not None:
            found = [
                r
                for r in _runs_for(store, cfg, plan, lang, plan.target.id, "eng", config_hash, split)
                if r.source_size is None
            ]
            baseline = found[-1].score if found else None
        runs.append(
            Run(
                target_task=plan.target.id,
                target_language=lang,
                source_task=plan.source_task,
                source_language=plan.source_language,
                score=round(score, 4),
                dataset=cfg.dataset,
                model=plan.model_name,
                source_size=size,
                metric=plan.target.metric,
                baseline_score=baseline,
                seed=cfg.seed,
                model_hash=plan.model_hash,
                config_hash=config_hash,
                split=split,
                flags=flags,
            )
        )
    return runs
