"""Running one job of the graph on files: idempotent, resumable, locked.

``out/jobs/<id>/result.json`` holds a finished job's result with its id; a job whose result is
there is skipped. An unfinished one resumes: its phases restart from their last checkpoint, and
the targets of a shared phase 2 that are already evaluated (``out/jobs/<id>/cells/``) are not
evaluated again. ``out/jobs/<id>/lock`` (see ``trainer.matrix.lock``) stops two workers from running the
same job, so an encoder is trained once even when a job is handed out twice. Runs are written
into the result, not into a store: ``trainer.matrix.results.import_results`` reads them from there.

The cell's own code (``trainer.cell.run``) does the training; this module decides what to run and
where its output goes. torch is imported only when a job has work to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.config import MatrixConfig, write_json
from trainer.matrix.graph import Job, cells
from trainer.matrix.lock import JobLock
from trainer.world import is_main_process

RESULT = "result.json"


def job_dir(out: Path, job: Job) -> Path:
    return Path(out) / "jobs" / job.id


def read_result(out: Path, job: Job) -> dict[str, Any] | None:
    """The job's result, or None when it has not finished (or the file belongs to another id)."""
    path = job_dir(out, job) / RESULT
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return result if isinstance(result, dict) and result.get("id") == job.id else None


@dataclass
class JobOutcome:
    """What happened to one job in this matrix run."""

    id: str
    phase: int
    label: str
    status: str  # "ran", "skipped" (its result was there), "failed"
    targets: list[str] = field(default_factory=list)  # targets evaluated (phases 2 and 3)
    runs: int = 0  # runs in its result
    seconds: float = 0.0
    host: str = ""
    error: str | None = None


def outcome_of(job: Job, status: str, result: dict[str, Any] | None, seconds: float = 0.0) -> JobOutcome:
    result = result or {}
    return JobOutcome(
        job.id,
        job.phase,
        job.label,
        status,
        targets=[c["target_task"] for c in result.get("cells", [])],
        runs=len(result.get("runs", [])),
        seconds=seconds,
        host=result.get("host", ""),
    )


def run_job(job: Job, matrix: MatrixConfig, *, lock_poll_s: float = 2.0) -> JobOutcome:
    """Run ``job`` unless its result exists; safe to call twice, at once, on two machines.

    Under torchrun every rank runs the job (the HF Trainer's DDP); rank 0 alone holds the lock
    and writes the result."""
    out = Path(matrix.out)
    if (done := read_result(out, job)) is not None:
        return outcome_of(job, "skipped", done)
    folder = job_dir(out, job)
    lock = JobLock(folder / "lock", owner=job.label, poll_s=lock_poll_s) if is_main_process() else nullcontext()
    with lock:
        if (done := read_result(out, job)) is not None:  # finished by another worker while we waited
            return outcome_of(job, "skipped", done)
        started = time.perf_counter()
        if job.phase == 1:
            result = _train_encoder(job, matrix)
        else:
            result = _run_cells(job, matrix)
        result = {
            "id": job.id,
            "job": job.as_dict(),
            **result,
            "host": socket.gethostname(),
            "seconds": round(time.perf_counter() - started, 3),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if is_main_process():
            write_json(folder / RESULT, result)  # atomic: readers see no result or the whole one
    return outcome_of(job, "ran", result, result["seconds"])


def _train_encoder(job: Job, matrix: MatrixConfig) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from trainer.cell.steps import intermediate_sets, make_plan

    cfg = dataclasses.replace(cells(job, matrix)[0], resume=True).phase1_config()
    plan = make_plan(cfg)
    sets = intermediate_sets(cfg, plan)
    tokenizer = AutoTokenizer.from_pretrained(str(cfg.model))
    from trainer.cell.dev import dev_set
    from trainer.cell.phases import phase1

    # phase 1 selects its best weights on the source tasks' English dev sets, where they exist
    devs = [dev_set(cfg, s.task, plan.source_language) for s in sets]
    encoder_dir, _, info, _ = phase1(cfg, plan, sets, devs, tokenizer)
    return {"phase1_dir": str(Path(encoder_dir).parent.relative_to(matrix.out)), "phase1": info, "runs": []}


def _run_cells(job: Job, matrix: MatrixConfig) -> dict[str, Any]:
    """Each target's cell; a phase 2 shared by several targets is trained by the first and handed on."""
    from trainer.cell.run import run_cell
    from trainer.cell.steps import make_plan

    out = Path(matrix.out)
    parts = job_dir(out, job) / "cells"
    configs = cells(job, matrix)
    done: list[dict[str, Any]] = []
    shared: Path | None = None  # the phase-2 folder of the previous target
    for k, cfg in enumerate(configs):
        part = parts / f"{cfg.target_task}.json"
        if part.is_file():  # evaluated before this job was interrupted
            done.append(json.loads(part.read_text(encoding="utf-8")))
            shared = out / done[-1]["cell_id"] / "phase2"
            continue
        plan = make_plan(cfg)
        phase2_dir = out / plan.cell_id / "phase2"
        if shared is not None and shared.is_dir() and shared != phase2_dir and not phase2_dir.exists():
            phase2_dir.parent.mkdir(parents=True, exist_ok=True)
            with suppress(FileNotFoundError):  # under torchrun one rank moves it, the others find it moved
                os.replace(shared, phase2_dir)  # the next target loads the fine-tuned model, not trains it again
        last = k == len(configs) - 1
        train = dataclasses.replace(cfg.train, keep_models=cfg.train.keep_models or not last)
        result = run_cell(dataclasses.replace(cfg, resume=True, train=train), None)
        record = {
            "target_task": cfg.target_task,
            "cell_id": result.cell_id,
            "artefact": str(result.artefact.relative_to(out)) if result.artefact else None,
            "scores": result.scores,
            "runs": [r.as_dict() for r in result.runs],
        }
        if is_main_process():
            write_json(part, record)
        done.append(record)
        shared = phase2_dir
    return {"cells": done, "runs": [r for record in done for r in record["runs"]]}


def pending(jobs: list[Job], out: Path) -> list[Job]:
    """The jobs to run, in order: those without a result, and the phase-1 jobs they need whose
    encoder was removed after their earlier dependents finished."""
    todo = {j.id for j in jobs if read_result(out, j) is None}
    by_id = {j.id: j for j in jobs}
    for job in jobs:
        if job.id not in todo:
            continue
        for dep in job.depends_on:
            result = read_result(out, by_id[dep]) if dep in by_id else None
            if result is not None and not (out / result["phase1_dir"] / "encoder").is_dir():
                (job_dir(out, by_id[dep]) / RESULT).unlink(missing_ok=True)
                todo.add(dep)
    return [j for j in jobs if j.id in todo]


def release_encoder(job: Job, out: Path) -> str | None:
    """Delete a finished phase-1 job's encoder folder (call once every job that reads it is done)."""
    result = read_result(out, job)
    if job.phase != 1 or result is None or not (out / result["phase1_dir"]).exists():
        return None
    shutil.rmtree(out / result["phase1_dir"], ignore_errors=True)
    return str(result["phase1_dir"])
