"""The transfer matrix as a graph of jobs that share work (``stepstone train plan``).

  phase 1  one intermediate training per (model, source task(s), source language, size, seed):
           the encoder that every target of that source starts from;
  phase 2  one target fine-tuning per (phase-1 encoder or none, English training set), with the
           zero-shot evaluation of every target that trains on that set folded in: XQuAD and MLQA
           both fine-tune on SQuAD v1.1, so they share one job, which evaluates both;
  phase 3  evaluation only, for retrieval targets (BUCC, Tatoeba), which have no phase 2.

Evaluation is folded into phase 2 because it is cheap next to training and the fine-tuned model
is then still in memory; a separate job would save and reload it (GBs) for minutes of work.

A job's id is a content hash of what it computes: the model's name, the tasks, languages, size,
seed, dataset name and every training knob that changes the result (not paths, not bookkeeping
such as logging or checkpoint intervals), so it is the same on every call and every machine.
Building the graph reads no data file and imports no torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feature_store import throughput
from feature_store.errors import InvalidRequest
from feature_store.languages import resolve as resolve_language
from trainer.config import CellConfig, MatrixConfig, TrainConfig
from trainer.data.tasks import canonical_id, known_task, split_sources
from trainer.matrix import estimate

# Knobs that change nothing a job computes; left out of its id.
BOOKKEEPING = frozenset(
    {"logging_steps", "save_steps", "save_total_limit", "dataloader_num_workers", "keep_models", "eval_batch_size",
     "cuda_graphs"}
)
# Knobs that only change evaluation; left out of phase 1's id.
EVALUATION = frozenset({"max_eval_samples", "eval_split", "retrieval_layer"})
# Targets whose English training set is another task's: XTREME trains XQuAD and MLQA on SQuAD v1.1.
TRAINS_ON = {"xquad": "squad", "mlqa": "squad"}


@dataclass
class Job:
    """One unit of work of the matrix; its output goes to ``out/jobs/<id>/``."""

    id: str  # content hash of the spec below (16 hex digits)
    phase: int  # 1 intermediate training, 2 fine-tuning + evaluation, 3 evaluation only
    model: str  # the model folder's name (the runs' `model` column)
    source_task: str  # "mnli", "mnli+squad"; "none" for jobs without an intermediate encoder
    source_language: str  # ISO 639-3 of the intermediate (or same-task training) data
    intermediate_size: int | None  # phase-1 examples (None: all)
    seed: int
    target_task: str | None  # phase 2: the task whose training set is used; phase 3: the target; phase 1: None
    train_language: str | None  # language of the phase-2 training data
    evaluates: dict[str, list[str]] = field(default_factory=dict)  # target task -> ISO 639-3 languages
    depends_on: list[str] = field(default_factory=list)  # ids of the jobs whose output this one reads
    estimated_gpu_hours: float | None = None  # training only; None for tasks the size tables lack
    cells_per_gpu: int = 1  # jobs of this model packed on one GPU (the engine's share: 1/cells_per_gpu)
    model_path: str = ""  # where the model folder is on this machine (not part of the id)
    cell_sources: dict[str, str] = field(default_factory=dict)  # target -> source_task to give the cell

    @property
    def label(self) -> str:
        source = self.source_task if self.source_task != "none" else "baseline"
        if self.phase == 1:
            return f"{source}.{self.source_language} (seed {self.seed})"
        targets = ",".join(self.evaluates)
        return f"{source} -> {targets} (seed {self.seed})"

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        del d["model_path"], d["cell_sources"]
        return d


def _hash(spec: dict[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _knobs(train: TrainConfig, leave_out: frozenset[str]) -> dict[str, Any]:
    knobs = {f.name: getattr(train, f.name) for f in dataclasses.fields(train) if f.name not in leave_out}
    if knobs.get("embedding_update") == "auto":  # the default: job ids stay what they were before the knob
        del knobs["embedding_update"]
    return knobs


def _model_name(model: Path) -> str:
    return Path(model).resolve().name  # as the cell names it in its runs


def training_task(target: str) -> str:
    """The task whose English training set fine-tunes ``target`` (its own, or SQuAD for XQuAD/MLQA)."""
    return TRAINS_ON.get(target, target)


def _is_retrieval(task: str) -> bool:
    spec = known_task(task)
    return spec is not None and spec.format == "retrieval"


def recipe(train: TrainConfig, tasks: list[str]) -> tuple[float, int]:
    """(epochs, global batch) of a phase on ``tasks``: the knobs, or where they are unset the
    trainer's per-task X-STILTs recipe (3 epochs, batch 32 where the recipe does not say)."""
    epochs, batch = train.epochs, train.batch_size
    specs = [known_task(t) for t in tasks]
    if (epochs is None or batch is None) and all(specs):
        try:
            from trainer.cell.recipe import phase_recipe
        except ImportError:  # a trainer without per-task defaults
            pass
        else:
            chosen = phase_recipe(train, [s for s in specs if s is not None])
            epochs, batch = chosen.epochs, chosen.batch_size
    return (3.0 if epochs is None else float(epochs)), (32 if batch is None else int(batch))


def _phase1_tokens(sources: list[str], size: int | None, train: TrainConfig) -> float | None:
    sizes = [estimate.examples(s) for s in sources]
    if any(n is None for n in sizes):
        return None
    counts = [float(min(n, train.max_train_samples or n)) for n in sizes if n is not None]
    if size:
        total = sum(counts)
        counts = [c * min(1.0, size / total) for c in counts] if total else counts
    epochs, _ = recipe(train, sources)
    per_task = [estimate.tokens(s, int(c), epochs) for s, c in zip(sources, counts, strict=True)]
    return _cap_steps(sum(t for t in per_task if t is not None), sources, train)


def _phase2_tokens(task: str, train: TrainConfig) -> float | None:
    n = estimate.examples(task)
    if n is None:
        return None
    if train.max_train_samples:
        n = min(n, train.max_train_samples)
    return _cap_steps(estimate.tokens(task, n, recipe(train, [task])[0]), [task], train)


def _cap_steps(token_count: float | None, tasks: list[str], train: TrainConfig) -> float | None:
    """With ``max_steps`` a phase stops after that many updates."""
    if token_count is None or train.max_steps is None or train.max_steps <= 0:
        return token_count
    per_example = max(estimate.tokens(t, 1, 1.0) or 0.0 for t in tasks)
    _, batch = recipe(train, tasks)
    return min(token_count, train.max_steps * batch * per_example)


def build_graph(matrix: MatrixConfig, tokens_per_s: float | None = None) -> list[Job]:
    """Every job of the matrix, dependencies first: per (model, seed) the jobs without an encoder,
    then for each intermediate source its phase-1 job followed by the jobs that use its encoder."""
    languages = {canonical_id(t): [resolve_language(x) for x in matrix.languages_for(t)] for t in matrix.target_tasks}
    languages = {t: list(dict.fromkeys(langs)) for t, langs in languages.items()}
    sources = list(dict.fromkeys(s.strip() for s in matrix.source_tasks))
    if any(s.lower() == "none" for s in sources):
        sources = ["none", *[s for s in sources if s.lower() != "none"]]  # encoder-free jobs first
    drafts: dict[str, Job] = {}  # phase 1 by id; phases 2 and 3 by the hash of what they train on
    keys: dict[str, dict[str, Any]] = {}
    for model in matrix.models:
        for seed in matrix.seeds:
            for raw_source in sources:
                for source_language in dict.fromkeys(resolve_language(x) for x in matrix.source_languages):
                    if raw_source.lower() == "none" and source_language != "eng":
                        continue  # the baseline is English; another language needs a source task
                    for size in dict.fromkeys(matrix.intermediate_sizes):
                        _add_source(
                            drafts, keys, matrix, Path(model), seed, raw_source, source_language, size or None,
                            languages, tokens_per_s,
                        )  # fmt: skip
    # Evaluation is folded into phases 2 and 3, so their ids cover what they evaluate too.
    ids = {
        k: _hash({**keys[k], "evaluates": job.evaluates, **_fine_tuning_knobs(matrix, job)})
        for k, job in drafts.items()
        if k in keys
    }
    jobs = []
    for k, job in drafts.items():
        job.id = ids.get(k, job.id)
        job.depends_on = [ids.get(d, d) for d in job.depends_on]
        jobs.append(job)
    return jobs


def _fine_tuning_knobs(matrix: MatrixConfig, job: Job) -> dict[str, Any]:
    """What a phase-2/3 job's id adds for its knobs: [train]'s, or its target's own with [train]'s
    (which its phase 1 keeps) beside them. Targets that share a job must share their knobs."""
    trains = {json.dumps(_knobs(matrix.train_for(t), BOOKKEEPING), sort_keys=True, default=str) for t in job.evaluates}
    if len(trains) > 1:
        raise InvalidRequest(
            f"targets {', '.join(job.evaluates)} fine-tune on one training set, so their [target_train] "
            "tables must be the same"
        )
    target = next(iter(job.evaluates))
    knobs = {"knobs": _knobs(matrix.train_for(target), BOOKKEEPING)}
    if matrix.phase1_train_for(target) is not None:
        knobs["phase1_knobs"] = _knobs(matrix.train, BOOKKEEPING)
    if matrix.source_train:  # in every cell's config_hash, baselines' too
        knobs["source_train"] = matrix.source_train
    return knobs


def _add_source(
    drafts: dict[str, Job],
    keys: dict[str, dict[str, Any]],
    matrix: MatrixConfig,
    model: Path,
    seed: int,
    raw_source: str,
    source_language: str,
    size: int | None,
    languages: dict[str, list[str]],
    tokens_per_s: float | None,
) -> None:
    train, name = matrix.train, _model_name(model)
    params = estimate.model_params(model)
    k = 1 if tokens_per_s else throughput.packing(params)  # cells per GPU, from the measured packing
    none = raw_source.lower() == "none"
    source = "none" if none else "+".join(canonical_id(s) for s in split_sources(raw_source))
    train = matrix.phase1_knobs_for(source)
    phase1: Job | None = None
    if not none and any(source != t for t in languages):
        parts = source.split("+")
        spec = {
            "phase": 1,
            "model": name,
            "sources": parts,
            "source_language": source_language,
            "size": size,
            "seed": seed,
            "knobs": _knobs(train, BOOKKEEPING | EVALUATION),
        }
        phase1 = drafts.setdefault(
            _hash(spec),
            Job(
                id=_hash(spec),
                phase=1,
                model=name,
                source_task=source,
                source_language=source_language,
                intermediate_size=size,
                seed=seed,
                target_task=None,
                train_language=None,
                estimated_gpu_hours=estimate.gpu_hours(
                    _phase1_tokens(parts, size, train), tokens_per_s, tasks=tuple(parts), params=params, packed=k
                ),
                model_path=str(model),
                cells_per_gpu=k,
            ),
        )
    for target, target_languages in languages.items():
        same_task = none or source == target
        # A size sweep only changes phase 1: a same-task job is keyed without the size, so every
        # size of the sweep shares one baseline (also when the sweep lists no 0 = "all").
        encoder = None if same_task else phase1
        train_language = source_language if same_task else "eng"
        retrieval = _is_retrieval(target)
        if retrieval and same_task and source_language != "eng":
            continue  # retrieval has no training data to take from another language
        key: dict[str, Any] = {
            "phase": 3 if retrieval else 2,
            "model": name,
            "encoder": encoder.id if encoder else None,
            "train_task": target if retrieval else training_task(target),
            "train_language": None if retrieval else train_language,
            "seed": seed,
            "dataset": matrix.dataset,
        }
        draft = "k" + _hash(key)
        baseline = same_task and train_language == "eng"
        if draft not in drafts:
            tuning = matrix.train_for(target)
            task = training_task(target)
            hours = (
                0.0
                if retrieval
                else estimate.gpu_hours(
                    _phase2_tokens(task, tuning), tokens_per_s, tasks=(task,), params=params, packed=k
                )
            )
            keys[draft] = key
            drafts[draft] = Job(
                id=draft,
                phase=3 if retrieval else 2,
                model=name,
                source_task="none" if baseline else source,
                source_language=source_language,
                intermediate_size=size if encoder else None,
                seed=seed,
                target_task=key["train_task"],
                train_language=key["train_language"],
                depends_on=[encoder.id] if encoder else [],
                estimated_gpu_hours=hours,
                model_path=str(model),
                cells_per_gpu=k,
            )
        job = drafts[draft]
        if target not in job.evaluates:
            job.evaluates[target] = target_languages
            job.cell_sources[target] = "none" if baseline else raw_source


def cells(job: Job, matrix: MatrixConfig) -> list[CellConfig]:
    """The cells a job runs, one per evaluated target (phase 1: one cell whose phase 1 it is)."""
    common: dict[str, Any] = {
        "model": Path(job.model_path),
        "data": matrix.data,
        "source_language": job.source_language,
        "intermediate_size": job.intermediate_size,
        "seed": job.seed,
        "out": matrix.out,
        "dataset": matrix.dataset,
        "train": matrix.train,
        "source_train": matrix.source_train,
    }
    if job.phase == 1:
        target = next(canonical_id(t) for t in matrix.target_tasks if canonical_id(t) != job.source_task)
        raw = next(t for t in matrix.target_tasks if canonical_id(t) == target)
        return [
            CellConfig(target_task=target, languages=matrix.languages_for(raw), source_task=job.source_task, **common)
        ]
    return [
        CellConfig(
            target_task=target,
            languages=list(langs),
            source_task=job.cell_sources[target],
            **{**common, "train": matrix.train_for(target), "phase1_train": matrix.phase1_train_for(target)},
        )
        for target, langs in job.evaluates.items()
    ]


def units(jobs: list[Job]) -> list[list[Job]]:
    """Jobs that belong together on one machine: a phase-1 job with every job that reads its encoder,
    or one job without an encoder. Encoder-free units come first (their runs are the baselines)."""
    dependents: dict[str, list[Job]] = {}
    for job in jobs:
        for dep in job.depends_on:
            dependents.setdefault(dep, []).append(job)
    alone = [[j] for j in jobs if j.phase != 1 and not j.depends_on]
    grouped = [[j, *dependents.get(j.id, [])] for j in jobs if j.phase == 1]
    return [*alone, *grouped]


def shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """The ``index``-th (1-based) of ``count`` disjoint slices of whole units; together they cover every job."""
    return [j for unit in units(jobs)[index - 1 :: count] for j in unit]


def to_json(jobs: list[Job]) -> dict[str, Any]:
    hours = [j.estimated_gpu_hours for j in jobs]
    return {
        "jobs": [j.as_dict() for j in jobs],
        "summary": {
            "jobs": len(jobs),
            "by_phase": {str(p): sum(1 for j in jobs if j.phase == p) for p in (1, 2, 3)},
            "runs": sum(len(langs) for j in jobs for langs in j.evaluates.values()),
            "estimated_gpu_hours": None if any(h is None for h in hours) else round(sum(h or 0 for h in hours), 3),
        },
    }
