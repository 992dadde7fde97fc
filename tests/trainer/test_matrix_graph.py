"""The matrix as a job graph: the plan, job ids, the lock, the local engine and the results import."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_store.errors import InvalidRequest, InvalidRun
from feature_store.runs.store import RunStore
from trainer.cli import app
from trainer.config import load_matrix
from trainer.matrix.engine import JobsFailed
from trainer.matrix.graph import build_graph
from trainer.matrix.lock import JobLock
from trainer.matrix.results import import_results, is_local
from trainer.matrix.run import expand, run_matrix

runner = CliRunner()

XSTILTS = """data = "{data}"
models = ["{model}"]
source_tasks = ["none", "mnli", "squad", "hellaswag"]
target_tasks = ["xnli", "xquad", "mlqa", "udpos"]
languages = ["swa", "yor"]
seeds = [1]
[train]
learning_rate = {lr}
logging_steps = {log}
"""


def _config(
    folder: Path, data: str = "/data/xtreme", model: str = "/models/xlm-roberta-large", **train: object
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "matrix.toml"
    knobs = {"lr": 1e-5, "log": 50, **train}
    path.write_text(XSTILTS.format(data=data, model=model, **knobs))
    return path


def _plan(config: Path) -> dict:
    result = runner.invoke(app, ["plan", "--config", str(config), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_plan_shares_phase1_and_the_squad_phase2(tmp_path: Path) -> None:
    plan = _plan(_config(tmp_path))
    jobs = plan["jobs"]
    phase1 = {j["source_task"]: j for j in jobs if j["phase"] == 1}
    phase2 = [j for j in jobs if j["phase"] == 2]
    assert sorted(phase1) == ["hellaswag", "mnli", "squad"] and len(phase2) == 12  # not 16
    assert plan["summary"]["by_phase"] == {"1": 3, "2": 12, "3": 0}
    for job in phase2:
        if job["source_task"] == "none":
            assert job["depends_on"] == []
        else:
            assert job["depends_on"] == [phase1[job["source_task"]]["id"]]
    squad = [j for j in phase2 if j["target_task"] == "squad"]
    assert len(squad) == 4 and all(list(j["evaluates"]) == ["xquad", "mlqa"] for j in squad)
    assert all(j["evaluates"]["xquad"] == ["swa", "yor"] for j in squad)
    assert len({j["id"] for j in jobs}) == 15
    assert all(j["estimated_gpu_hours"] > 0 for j in jobs)
    assert plan["summary"]["runs"] == 4 * 4 * 2  # every (source, target, language) once


def test_job_ids_are_content_hashes(tmp_path: Path) -> None:
    ids = [j["id"] for j in _plan(_config(tmp_path / "a"))["jobs"]]
    assert [j["id"] for j in _plan(_config(tmp_path / "a"))["jobs"]] == ids  # stable across calls
    # another machine: other paths, same model folder name, a knob that changes nothing computed
    elsewhere = _config(tmp_path / "b", data="/mnt/x", model="/scratch/m/xlm-roberta-large", log=10)
    assert [j["id"] for j in _plan(elsewhere)["jobs"]] == ids
    changed = [j["id"] for j in _plan(_config(tmp_path / "c", lr=2e-5))["jobs"]]
    assert not set(changed) & set(ids)  # the learning rate changes every job


def test_a_targets_own_fine_tuning_knobs_leave_phase1_and_other_targets_alone(tmp_path: Path) -> None:
    base = _config(tmp_path / "a")
    before = {(j["phase"], j["source_task"], j["target_task"]): j["id"] for j in _plan(base)["jobs"]}
    tuned = _config(tmp_path / "b")
    tuned.write_text(tuned.read_text() + "[target_train.udpos]\nepochs = 4\nlearning_rate = 5e-5\n")
    matrix = load_matrix(tuned)
    after = {(j.phase, j.source_task, j.target_task): j.id for j in build_graph(matrix)}
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {(2, "none", "udpos"), (2, "mnli", "udpos"), (2, "squad", "udpos"), (2, "hellaswag", "udpos")}
    assert matrix.train_for("udpos").epochs == 4 and matrix.train_for("xnli").epochs is None
    cells = {c.target_task: c for c in expand(matrix) if c.source_task == "mnli"}
    # the UD-POS cell fine-tunes with its knobs but trains (or reuses) the encoder with [train]'s
    assert cells["udpos"].train.learning_rate == 5e-5 and cells["udpos"].phase1_config().train == matrix.train
    assert cells["xnli"].phase1_train is None and cells["xnli"].phase1_config() is cells["xnli"]
    from trainer.cell.run import config_hash

    baseline = next(c for c in expand(matrix) if c.source_task == "none" and c.target_task == "udpos")
    assert config_hash(baseline) == config_hash(cells["udpos"])  # runs still find their baseline
    assert config_hash(cells["udpos"]) != config_hash(dataclasses.replace(cells["udpos"], phase1_train=None))
    for text, message in [
        ("[target_train.pawsx]\nepochs = 4\n", "'pawsx' is not one of the target tasks"),
        ("[target_train.udpos]\nepoch = 4\n", "unknown key 'epoch'"),
        ("[target_train.udpos]\neval_split = 'train'\n", "eval_split = 'train'"),
        ("[target_train.xquad]\nepochs = 3\n", "must be the same"),
    ]:
        bad = _config(tmp_path / "c")
        bad.write_text(bad.read_text() + text)
        with pytest.raises(InvalidRequest, match=message):
            build_graph(load_matrix(bad))


def test_plan_reads_no_data_and_imports_no_torch(tmp_path: Path) -> None:
    config = _config(tmp_path, data=str(tmp_path / "missing"))
    code = (
        "import sys\nfrom trainer.__main__ import main\n"
        f"assert main(['plan', '--config', {str(config)!r}, '--format', 'table']) == 0\n"
        "import trainer.matrix.run\n"
        "assert not {'torch', 'transformers', 'ray'} & set(sys.modules)\n"
    )
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 0, done.stderr
    assert "15 jobs" in done.stdout and "xquad (2), mlqa (2)" in done.stdout
    bad = runner.invoke(app, ["plan", "--config", str(config), "--format", "yaml"])
    assert bad.exit_code == 1


def test_the_ray_engine_without_ray_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(InvalidRequest, match=r"--engine ray needs ray: pip install"):
        run_matrix(load_matrix(_config(tmp_path)), engine="ray")
    with pytest.raises(InvalidRequest, match="unknown engine 'spark'"):
        run_matrix(load_matrix(_config(tmp_path)), engine="spark")


def test_retrieval_targets_are_phase3_and_size_sweeps_share_phase2_sets(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        'data = "d"\nmodels = ["m"]\nsource_tasks = ["none", "mnli"]\ntarget_tasks = ["xnli", "tatoeba"]\n'
        'languages = ["swa"]\nintermediate_sizes = [0, 1000]\n'
    )
    jobs = build_graph(load_matrix(path))
    assert [(j.phase, j.source_task, j.intermediate_size) for j in jobs] == [
        (2, "none", None),
        (3, "none", None),
        (1, "mnli", None),
        (2, "mnli", None),
        (3, "mnli", None),
        (1, "mnli", 1000),
        (2, "mnli", 1000),
        (3, "mnli", 1000),
    ]
    assert jobs[4].depends_on == [jobs[2].id] and jobs[7].depends_on == [jobs[5].id]
    path.write_text(path.read_text().replace("intermediate_sizes = [0, 1000]", "intermediate_sizes = [500, 1000]"))
    sweep = build_graph(load_matrix(path))  # a sweep without "all" still has its baselines, once
    assert [(j.phase, j.source_task, j.intermediate_size) for j in sweep if j.source_task == "none"] == [
        (2, "none", None),
        (3, "none", None),
    ]


def test_lock_is_held_once(tmp_path: Path) -> None:
    path = tmp_path / "job" / "lock"
    wins: list[JobLock] = []
    start = threading.Barrier(12)

    def grab() -> None:
        lock = JobLock(path)
        start.wait()
        if lock.try_acquire():
            wins.append(lock)

    threads = [threading.Thread(target=grab) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and JobLock(path).holder()["nonce"] == wins[0].nonce
    assert not JobLock(path).try_acquire()
    wins[0].release()
    assert not path.exists()
    with JobLock(path) as again:
        assert again.holder()["pid"] == os.getpid()


def test_stale_locks_are_broken(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": int(dead.stdout), "nonce": "x"}))
    assert JobLock(path).try_acquire()  # its holder on this host is dead
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "nonce": "y"}))
    assert not JobLock(path, stale_s=60).try_acquire()  # another host's lock, touched just now
    old = time.time() - 120
    os.utime(path, (old, old))
    assert JobLock(path, stale_s=60).try_acquire()  # not touched for longer than stale_s
    lock = JobLock(path, heartbeat_s=0.05)
    path.unlink()
    assert lock.try_acquire()
    os.utime(path, (old, old))
    time.sleep(0.3)
    assert time.time() - path.stat().st_mtime < 5  # the holder's heartbeat keeps it fresh
    lock.release()


def _job_result(out: Path, job_id: str, runs: list[dict]) -> None:
    folder = out / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"id": job_id, "runs": runs}))


def _run(source: str, score: float, baseline: float | None = None) -> dict:
    return {
        "target_task": "xnli",
        "target_language": "swa",
        "source_task": "xnli" if source == "none" else source,
        "source_language": "eng",
        "score": score,
        "dataset": "d",
        "model": "m",
        "source_size": None if source == "none" else 8.0,
        "metric": "accuracy",
        "baseline_score": baseline,
        "seed": 1,
    }


def test_import_results_fills_baselines_and_is_idempotent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _job_result(out, "aaa", [_run("mnli", 40.0)])  # finished before its baseline
    _job_result(out, "bbb", [_run("none", 33.0, 33.0)])
    (out / "jobs" / "ccc").mkdir()  # unfinished: no result yet
    with RunStore() as store:
        first = import_results(out, store)
        assert (first.jobs, first.runs, first.inserted, first.baselines_filled) == (2, 2, 2, 1)
        mnli = store.query(source_task="mnli")[0]
        assert mnli.baseline_score == 33.0
        again = import_results(out, store)
        assert (again.inserted, again.duplicates) == (0, 2)
    (out / "jobs" / "ddd").mkdir()
    (out / "jobs" / "ddd" / "result.json").write_text(json.dumps({"id": "other", "runs": []}))
    with RunStore() as store, pytest.raises(InvalidRun, match="does not match its folder"):
        import_results(out, store)
    assert is_local(tmp_path)


def test_export_writes_a_matrixs_runs_with_baselines_and_never_opens_the_store(
    tmp_path: Path, stepstone_home: Path
) -> None:
    out = tmp_path / "out"
    _job_result(out, "aaa", [_run("mnli", 40.0), dict(_run("mnli", 41.0), dataset="other")])
    _job_result(out, "bbb", [_run("none", 33.0, 33.0)])
    csv_path = tmp_path / "runs.csv"
    result = runner.invoke(app, ["export", str(out), "--dataset", "d", "--out", str(csv_path)])
    assert result.exit_code == 0, result.output
    from feature_store.runs.files import parse_csv_text

    runs = parse_csv_text(csv_path.read_text(), "runs.csv")
    rows = sorted((r.source_task, r.score, r.baseline_score) for r in runs)
    assert rows == [("mnli", 40.0, 33.0), ("xnli", 33.0, 33.0)]
    assert not stepstone_home.exists()  # no store was made, none seeded
    bad = runner.invoke(app, ["export", str(out), "--dataset", "nope", "--out", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1  # the message is the CLI's "Error: no runs of dataset 'nope' …"
    assert not (tmp_path / "x.csv").exists()


def _qa_data(data_dir: Path, root: Path) -> Path:
    """The fixture data plus XQuAD and MLQA test files; both train on squad/train-eng.jsonl."""
    data = root / "data"
    shutil.copytree(data_dir, data, ignore=shutil.ignore_patterns("xtreme"))
    rows = (data / "squad" / "train-eng.jsonl").read_text().splitlines()[:3]
    for task in ("xquad", "mlqa"):
        (data / task).mkdir()
        (data / task / "test-swa.jsonl").write_text("\n".join(rows) + "\n")
    return data


TINY = """[train]
max_steps = 2
batch_size = 4
eval_batch_size = 8
max_seq_length = 48
qa_max_seq_length = 48
doc_stride = 16
learning_rate = 1e-3
use_cpu = true
"""


def test_local_matrix_trains_the_shared_squad_set_once_and_reports_failures(
    model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import Trainer

    data = _qa_data(data_dir, tmp_path)
    config = tmp_path / "m.toml"
    config.write_text(
        f'data = "{data}"\nmodels = ["{model_dir}"]\nsource_tasks = ["none", "mnli", "cola"]\n'
        f'target_tasks = ["xquad", "mlqa"]\nlanguages = ["swa"]\nout = "out"\n' + TINY
    )
    trained: list[str] = []
    original = Trainer.train

    def counting(self: Trainer, *args: object, **kwargs: object) -> object:
        trained.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "train", counting)
    with RunStore() as store:
        failed = runner.invoke(app, ["matrix", "--config", str(config)])
        # SystemExit: the main CLI, once imported, wraps these commands to print "Error: ..." itself
        assert failed.exit_code == 1 and isinstance(failed.exception, JobsFailed | SystemExit)
        assert "matrix summary" in failed.output and "failed jobs" in failed.output
        # phase 2 of none and of mnli, phase 1 of mnli: three trainings for four evaluated cells
        assert [name == "MultiTaskTrainer" for name in trained] == [False, True, False]
        # cola has no data: its phase-1 job fails (again) and takes the job that reads its encoder with it
        with pytest.raises(JobsFailed, match="2 of 5 jobs failed") as again_failed:
            run_matrix(load_matrix(config), store=store)
        report = again_failed.value.report  # type: ignore[attr-defined]
        assert [o.status for o in report.outcomes] == ["skipped", "skipped", "skipped", "failed", "failed"]
        assert "dependency" in (report.outcomes[4].error or "")
        assert report.cells_skipped == 4 and report.imported.inserted == 0 and len(trained) == 3
        runs = store.query()
        assert sorted((r.target_task, r.source_task) for r in runs) == [
            ("mlqa", "mlqa"),
            ("mlqa", "mnli"),
            ("xquad", "mnli"),
            ("xquad", "xquad"),
        ]
        assert all(r.baseline_score is not None for r in runs)
        out = tmp_path / "out"
        assert list(out.glob("*/xquad/mnli.eng/seed1"))  # the mnli cells ran here
        assert not list(out.glob("*/_phase1/mnli.eng/seed1"))  # removed once its users were done
        assert not list(out.rglob("phase2"))  # the shared fine-tuned model went with its last user
        config.write_text(config.read_text().replace(', "cola"', ""))
        again = run_matrix(load_matrix(config), store=store)
        assert [o.status for o in again.outcomes] == ["skipped"] * 3
        assert again.cells_skipped == 4 and again.imported.inserted == 0 and store.count() == 4
        assert len(trained) == 3
        # A target added later needs mnli's encoder, which was removed: its phase-1 job runs again.
        config.write_text(config.read_text().replace('["xquad", "mlqa"]', '["xquad", "mlqa", "xnli"]'))
        grown = run_matrix(load_matrix(config), store=store)
        assert [(o.phase, o.status) for o in grown.outcomes] == [
            (2, "skipped"),
            (2, "ran"),
            (1, "ran"),
            (2, "skipped"),
            (2, "ran"),
        ]
        assert [name == "MultiTaskTrainer" for name in trained[3:]] == [False, True, False]
        assert store.count() == 6


def test_a_store_that_refuses_the_runs_stops_the_import_not_the_training(
    model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.matrix import run as matrix_code

    config = tmp_path / "m.toml"
    config.write_text(
        f'data = "{data_dir}"\nmodels = ["{model_dir}"]\nsource_tasks = ["none"]\n'
        'target_tasks = ["xnli", "xcopa"]\n'
        f'languages = ["swa"]\nout = "out"\n' + TINY
    )
    calls = []

    def refusing(out: Path, store: RunStore) -> None:
        calls.append(out)
        raise InvalidRun("mixes scales: a 0–1 value among 0–100 scores", row=3, column="score", value=0.98)

    monkeypatch.setattr(matrix_code, "import_results", refusing)
    with RunStore() as store:
        report = run_matrix(load_matrix(config), store=store)
        assert [o.status for o in report.outcomes] == ["ran", "ran"]  # the second job still trained
        assert len(calls) == 1 and "mixes scales" in (report.import_error or "") and store.count() == 0
    assert len(list((tmp_path / "out" / "jobs").glob("*/result.json"))) == 2  # for a later import-results


def test_the_trainers_runs_state_points_so_a_near_zero_f1_is_not_a_mixed_scale(tmp_path: Path) -> None:
    from feature_store.runs.files import parse_csv_text

    header = "dataset,model,target_task,target_language,source_task,source_language,score,metric,baseline_score"
    rows = ["d,m,udpos,jpn,udpos,eng,0.9788,f1,0.9788", "d,m,udpos,fra,udpos,eng,54.6,f1,54.6"]
    ident = ",seed,model_hash,config_hash,split"
    with RunStore() as store:  # Japanese UD-POS F1 below 1 point: the trainer says its scores are points
        trained = [f"{r},1,d6d7c2fed48370aa,ced60f79c4231944,test" for r in rows]
        assert store.insert(parse_csv_text("\n".join([header + ident, *trained]), "t.csv")).inserted == 2
    with RunStore() as store, pytest.raises(InvalidRun, match="mixes scales"):
        store.insert(parse_csv_text("\n".join([header, *rows]), "u.csv"))  # nothing states the scale
