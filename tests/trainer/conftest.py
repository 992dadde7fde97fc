"""Fixtures for the trainer tests (builders in trainer_fixtures.py); STEPSTONE_HOME is a tmp dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from trainer_fixtures import build_data, build_model

from trainer.config import TrainConfig


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> None:
    """Tiny tensors gain nothing from threads, and on a busy machine OpenMP workers spin-wait."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    texts = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            texts += path.read_text(encoding="utf-8").splitlines()
    return build_model(tmp_path_factory.mktemp("models") / "tiny-xlmr", texts)


@pytest.fixture(autouse=True)
def stepstone_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("STEPSTONE_HOME", str(home))
    return home


@pytest.fixture
def tiny_train() -> TrainConfig:
    """Two updates per phase, small windows: every test cell runs in about a second."""
    return TrainConfig(
        max_steps=2,
        batch_size=4,
        eval_batch_size=8,
        max_seq_length=48,
        qa_max_seq_length=48,
        doc_stride=16,
        learning_rate=1e-3,
        save_steps=1000,
        logging_steps=1000,
        use_cpu=True,
    )
