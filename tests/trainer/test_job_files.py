"""Job files are input like any other: their runs are validated, their paths stay inside OUT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest, InvalidRun
from feature_store.runs.store import RunStore
from trainer.matrix.graph import Job
from trainer.matrix.jobs import release_encoder, within
from trainer.matrix.results import import_results

RUN = {"dataset": "ir", "model": "m", "target_task": "xnli", "target_language": "swa", "source_task": "mnli",
       "source_language": "eng", "score": 55.0, "metric": "accuracy", "seed": 1, "model_hash": "h",
       "config_hash": "c", "split": "test", "flags": ""}


def _result(out: Path, job_id: str, payload: dict[str, object]) -> None:
    folder = out / "jobs" / job_id
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"id": job_id, **payload}))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target_language", "not-a-language", "unknown language code"),
    ("source_language", "../../etc/passwd", "unknown language code"),
    ("seed", 2**70, "seed"),
    ("score", "7_5", "not a number"),
    ("Score", 1.0, "unknown column"),
])
def test_a_bad_value_in_a_job_result_is_refused(tmp_path: Path, field: str, value: object, message: str) -> None:
    _result(tmp_path, "abc123", {"runs": [RUN, {**RUN, field: value}]})
    with RunStore(tmp_path / "runs.sqlite") as store:
        with pytest.raises(InvalidRun, match=message):
            import_results(tmp_path, store)
        assert store.count() == 0


def test_job_result_task_ids_are_normalised_like_any_import(tmp_path: Path) -> None:
    _result(tmp_path, "abc123", {"runs": [{**RUN, "target_task": "XNLI "}]})
    with RunStore(tmp_path / "runs.sqlite") as store:
        import_results(tmp_path, store)
        assert [r.target_task for r in store.query()] == ["xnli"]


@pytest.mark.parametrize("phase1_dir", ["../victim", "/tmp", "", "phase1/../../victim"])
def test_release_encoder_never_deletes_outside_out(tmp_path: Path, phase1_dir: str) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    job = Job(id="p1", phase=1, model="m", source_task="mnli", source_language="eng", intermediate_size=None,
              seed=1, target_task=None, train_language=None)
    _result(out, "p1", {"phase1_dir": phase1_dir, "phase1": {}, "runs": []})
    with pytest.raises(InvalidRequest, match="not a folder inside"):
        release_encoder(job, out)
    assert (victim / "keep.txt").read_text() == "mine"


def test_a_folder_inside_out_is_released(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "phase1" / "abc" / "encoder").mkdir(parents=True)
    assert within(out, "phase1/abc") == (out / "phase1" / "abc").resolve()
    job = Job(id="p1", phase=1, model="m", source_task="mnli", source_language="eng", intermediate_size=None,
              seed=1, target_task=None, train_language=None)
    _result(out, "p1", {"phase1_dir": "phase1/abc", "phase1": {}, "runs": []})
    assert release_encoder(job, out) == "phase1/abc" and not (out / "phase1" / "abc").exists()
