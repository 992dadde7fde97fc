"""Engines that run the job graph: ``local`` (one job after another, here) and ``ray``.

The Ray engine submits one task per job, its dependencies passed as arguments, so that Ray starts
a job only when the jobs it reads from have finished, and places it where its resources are free:
``num_gpus`` per job may be a fraction (0.25 packs four cells on one GPU). A task whose worker dies
(killed, node lost, out of memory) is retried up to ``retries`` times; the job's checkpoints and
lock make the retry resume where the dead worker stopped. A job that fails by raising an error is
not retried, and the jobs that depend on it fail with it. Under Ray each job's output goes to
``out/jobs/<id>/log.txt``. Ray itself is imported only here, only when ``--engine ray`` is asked for.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from feature_store.errors import InvalidRequest, StepstoneError
from trainer.config import MatrixConfig
from trainer.matrix.graph import Job
from trainer.matrix.jobs import JobOutcome, job_dir, run_job

ENGINES = ("local", "ray")
OnJob = Callable[[JobOutcome], None]


class JobsFailed(StepstoneError):
    """Some jobs of a matrix failed (the others ran; a rerun resumes them)."""


def _failed(job: Job, error: str) -> JobOutcome:
    return JobOutcome(job.id, job.phase, job.label, "failed", error=error)


def run_local(
    jobs: list[Job],
    matrix: MatrixConfig,
    *,
    on_start: Callable[[int, int, Job], None] | None = None,
    on_done: OnJob | None = None,
) -> list[JobOutcome]:
    """Every job in order, in this process; a failed job fails its dependents and the rest go on."""
    outcomes: list[JobOutcome] = []
    failed: set[str] = set()
    for k, job in enumerate(jobs, start=1):
        broken = [d for d in job.depends_on if d in failed]
        if broken:
            outcome = _failed(job, f"dependency {broken[0]} failed")
        else:
            if on_start is not None:
                on_start(k, len(jobs), job)
            try:
                outcome = run_job(job, matrix)
            except Exception as exc:  # recorded, reported and the matrix goes on
                outcome = _failed(job, _describe(exc))
        if outcome.status == "failed":
            failed.add(job.id)
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes


def _describe(exc: BaseException) -> str:
    if isinstance(exc, StepstoneError):
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """The worker's stdout and stderr (file descriptors 1 and 2, so library loggers too) into ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _ray_job(job: Job, matrix: MatrixConfig, *dependencies: JobOutcome) -> JobOutcome:
    """The Ray task: its arguments include the dependencies' outcomes, so it starts after them.

    A Ray worker runs one task at a time, so its output can go to the job's own log file."""
    with _output_to(job_dir(Path(matrix.out), job) / "log.txt"):
        return run_job(job, matrix)


def run_ray(
    jobs: list[Job],
    matrix: MatrixConfig,
    *,
    address: str | None = None,
    gpus_per_job: float | None = None,
    cpus_per_job: float = 1.0,
    retries: int = 3,
    num_cpus: int | None = None,
    on_done: OnJob | None = None,
) -> list[JobOutcome]:
    """Submit the graph to Ray: a new local Ray (``address`` None) or a running cluster ("auto", ...).

    ``gpus_per_job`` None gives each job ``1 / job.cells_per_gpu`` of a GPU when the cluster has GPUs
    (the graph packs K cells of a small model on one GPU, K from the measured packing), none when
    it has not."""
    try:
        import ray
    except ImportError:
        raise InvalidRequest('--engine ray needs ray: pip install -e ".[train]"') from None
    started = not ray.is_initialized()
    if started:
        init: dict[str, Any] = {
            "address": address,
            "include_dashboard": False,
            "logging_level": logging.WARNING,
            "log_to_driver": False,  # each job's output goes to out/jobs/<id>/log.txt instead
        }
        if address is None:
            # A Ray started here runs this checkout's code: give its workers this import path.
            root = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            init.update(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
        ray.init(**init)
    try:
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(_ray_job)
        refs: dict[str, Any] = {}
        for job in jobs:
            deps = [refs[d] for d in job.depends_on if d in refs]
            refs[job.id] = task.options(
                name=f"stepstone phase {job.phase} {job.id}",
                # unset: the job graph's share (1/K: K small cells packed on a GPU), none without GPUs
                num_gpus=gpus_per_job if gpus_per_job is not None else (1.0 / job.cells_per_gpu if has_gpus else 0.0),
                num_cpus=cpus_per_job,
                max_retries=retries,
                retry_exceptions=False,
            ).remote(job, matrix, *deps)
        waiting = {ref: job for job, ref in ((j, refs[j.id]) for j in jobs)}
        outcomes: dict[str, JobOutcome] = {}
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1)
            for ref in ready:
                job = waiting.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as exc:  # a job's error, or its dependency's
                    outcome = _failed(job, _ray_error(exc))
                outcomes[job.id] = outcome
                if on_done is not None:
                    on_done(outcome)
        return [outcomes[j.id] for j in jobs]
    finally:
        if started:
            ray.shutdown()


def _ray_error(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # RayTaskError keeps the job's own exception here
    if isinstance(cause, BaseException):
        return _describe(cause)
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
