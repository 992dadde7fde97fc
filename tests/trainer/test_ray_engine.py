"""A tiny matrix through Ray on the CPU, with one worker killed in the middle of training."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feature_store.runs.store import RunStore
from trainer.config import load_matrix
from trainer.matrix.run import run_matrix

ray = pytest.importorskip("ray")

# Enough steps, with checkpoints, that there is a "middle" to kill the phase-1 worker in.
TINY = """[train]
max_steps = 60
save_steps = 20
batch_size = 4
eval_batch_size = 8
max_seq_length = 48
learning_rate = 1e-3
logging_steps = 1000
use_cpu = true
"""


@pytest.fixture
def deadline() -> Iterator[None]:
    """Fail instead of hanging: Ray is shut down by the engine when the alarm interrupts it."""

    def expire(*_: object) -> None:
        raise TimeoutError("the Ray matrix took longer than 240 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(240)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _kill_phase1_worker_after_its_first_checkpoint(out: Path, killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set():
        # the model's folder is named by the cell (its name, and its content hash where runs carry one)
        if list(out.glob("*/_phase1/mnli.eng/seed1/checkpoint-*/trainer_state.json")):  # written last
            time.sleep(0.05)
            for lock in out.glob("jobs/*/lock"):
                holder = json.loads(lock.read_text() or "{}")
                if holder.get("owner", "").startswith("mnli.eng") and holder.get("pid"):  # the phase-1 job
                    os.kill(holder["pid"], signal.SIGKILL)
                    killed.append(holder["pid"])
                    return
        time.sleep(0.02)


@pytest.mark.slow
def test_ray_runs_every_job_once_when_a_worker_dies(
    model_dir: Path, data_dir: Path, tmp_path: Path, deadline: None
) -> None:
    config = tmp_path / "m.toml"
    config.write_text(
        f'data = "{data_dir}"\nmodels = ["{model_dir}"]\nsource_tasks = ["none", "mnli"]\n'
        f'target_tasks = ["xnli"]\nlanguages = ["swa"]\nout = "out"\n' + TINY
    )
    out = tmp_path / "out"
    killed: list[int] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_phase1_worker_after_its_first_checkpoint, args=(out, killed, stop))
    watcher.start()
    try:
        with RunStore() as store:
            report = run_matrix(load_matrix(config), engine="ray", num_cpus=2, store=store, retries=2)
            runs = store.query()
    finally:
        stop.set()
        watcher.join()
    assert not ray.is_initialized()  # the engine shut down the Ray it started
    assert killed, "the phase-1 worker was never killed"
    assert [(o.phase, o.status) for o in report.outcomes] == [(2, "ran"), (1, "ran"), (2, "ran")]
    # every run exactly once: in the store, and across the jobs' results
    assert sorted((r.source_task, r.target_language) for r in runs) == [("mnli", "swa"), ("xnli", "swa")]
    results = [json.loads(p.read_text()) for p in out.glob("jobs/*/result.json")]
    assert sorted(r["source_task"] for result in results for r in result["runs"]) == ["mnli", "xnli"]
    assert report.imported is not None and report.imported.inserted == 2
    # the retried phase-1 job resumed from the checkpoint the killed worker had written
    phase1 = next(r for r in results if r["job"]["phase"] == 1)
    assert "checkpoint-" in (phase1["phase1"]["resumed_from"] or "")
    assert phase1["host"] and not list(out.glob("jobs/*/lock"))
