"""The Typer commands in-process, the matrix with shards and --resume, and the torchrun entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_store.errors import InvalidRequest, UnknownLanguage
from feature_store.runs.store import RunStore
from trainer.__main__ import main
from trainer.cell.run import run_cell
from trainer.cli import app
from trainer.config import CellConfig, TrainConfig
from trainer.world import is_main_process

TINY = """[train]
max_steps = 2
batch_size = 4
eval_batch_size = 8
max_seq_length = 48
learning_rate = 1e-3
use_cpu = true
"""

runner = CliRunner()


def test_cell_command_writes_runs_and_resume_skips(model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    args = [
        "cell",
        "--model",
        str(model_dir),
        "--data",
        str(data_dir),
        "--source-task",
        "none",
        "--target-task",
        "xnli",
        "--languages",
        "sw,yor",
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(tmp_path / "tiny.toml"),
        "--max-eval-samples",
        "3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "swa\t" in result.output and "yor\t" in result.output and "2 runs written" in result.output
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and "skipped" in again.output
    with RunStore() as store:
        assert store.count(target_task="xnli") == 2


def test_matrix_shards_cover_the_grid_and_resume_skips(model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "matrix.toml"
    config.write_text(
        f'data = "{data_dir}"\nmodels = ["{model_dir}"]\nsource_tasks = ["none", "mnli"]\n'
        f'target_tasks = ["xnli"]\nlanguages = ["swa"]\nout = "out"\n' + TINY
    )
    for shard in ("1/2", "2/2"):
        result = runner.invoke(app, ["matrix", "--config", str(config), "--shard", shard])
        assert result.exit_code == 0, result.output
        assert "1 cells run, 0 skipped, 1 runs written" in result.output
    with RunStore() as store:
        runs = store.query(target_task="xnli")
    assert sorted(r.source_task for r in runs) == ["mnli", "xnli"]
    assert next(r for r in runs if r.source_task == "mnli").baseline_score is not None  # baseline ran first
    again = runner.invoke(app, ["matrix", "--config", str(config), "--resume"])
    assert again.exit_code == 0 and "0 cells run, 2 skipped, 0 runs written" in again.output
    (model_out,) = (tmp_path / "out").glob("tiny-xlmr.*")  # `out` is relative to the config file
    assert (model_out / "xnli").is_dir()
    assert not (model_out / "_phase1" / "mnli.eng" / "seed1").exists()  # removed when done


def test_errors_are_stepstone_errors(model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text(
        'data = "d"\nmodels = ["m"]\nsource_tasks = ["none"]\ntarget_tasks = ["xnli"]\nlanguages = ["swa"]\n'
    )
    result = runner.invoke(app, ["matrix", "--config", str(config), "--shard", "3/2"])
    # SystemExit: the main CLI, once imported, wraps these commands to print "Error: ..." itself
    assert result.exit_code == 1 and isinstance(result.exception, InvalidRequest | SystemExit)
    result = runner.invoke(
        app,
        [
            "cell",
            "--model",
            str(model_dir),
            "--data",
            str(data_dir),
            "--target-task",
            "xnli",
            "--languages",
            "klingonish",
        ],
    )
    assert result.exit_code == 1 and isinstance(result.exception, UnknownLanguage | SystemExit)


def test_module_entry_point_as_torchrun_starts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # torchrun --nproc_per_node N -m trainer <args> runs trainer/__main__.py with these args.
    assert main(["cell", "--help"]) == 0
    assert "--intermediate-size" in capsys.readouterr().out
    assert main(["matrix"]) == 2  # missing --config: a usage error
    assert "Missing option" in capsys.readouterr().err
    assert main(["matrix", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "Error: config file not found" in capsys.readouterr().err


def test_cli_module_does_not_import_torch() -> None:
    code = "import sys, trainer.cli; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_rank_zero_writes(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()
    with RunStore() as store:
        result = run_cell(
            CellConfig(
                model=model_dir,
                data=data_dir,
                target_task="sentiment",
                languages=["swa"],
                out=tmp_path,
                train=tiny_train,
            ),
            store,
        )
        assert result.scores and result.runs == [] and store.count() == 0
    assert not any(tmp_path.rglob("result.json"))
