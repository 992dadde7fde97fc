"""Shared fixtures: every test gets its own $STEPSTONE_HOME; a trained home is built once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home seeded with the shipped runs and holding the default model (built once per session)."""
    home = tmp_path_factory.mktemp("trained-home")
    old = os.environ.get("STEPSTONE_HOME")
    os.environ["STEPSTONE_HOME"] = str(home)
    try:
        from recommender.service import Service

        svc = Service()
        svc.live()
        svc.store.close()
    finally:
        if old is None:
            os.environ.pop("STEPSTONE_HOME", None)
        else:
            os.environ["STEPSTONE_HOME"] = old
    return home


def clone_home(src: Path, dst: Path) -> Path:
    """Copy a home; the language-feature cache (read-only, 30 MB) is linked, not copied."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("cache"))
    if (src / "cache").exists():
        (dst / "cache").symlink_to(src / "cache", target_is_directory=True)
    return dst


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_home: Path) -> Iterator[Path]:
    """An empty home (sharing the language-feature cache)."""
    path = tmp_path / "home"
    path.mkdir()
    (path / "cache").symlink_to(trained_home / "cache", target_is_directory=True)
    monkeypatch.setenv("STEPSTONE_HOME", str(path))
    yield path


@pytest.fixture
def trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained_home: Path) -> Iterator[Path]:
    """A private copy of the trained home: tests may write to it."""
    path = clone_home(trained_home, tmp_path / "trained")
    monkeypatch.setenv("STEPSTONE_HOME", str(path))
    yield path


def write_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    import csv

    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def xstilts_rows(languages: tuple[str, ...] = ("swa", "yor", "deu", "hin"),
                 sources: tuple[str, ...] = ("mnli", "squad", "hellaswag")) -> list[dict[str, object]]:
    """Tiny intermediate-task runs for XNLI: a baseline and three intermediate tasks per language."""
    rows: list[dict[str, object]] = []
    for i, lang in enumerate(languages):
        base = 70.0 + i
        rows.append(dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language=lang,
                         source_task="xnli", source_language="eng", score=base, metric="accuracy",
                         baseline_score=base, seed=1))
        for j, src in enumerate(sources):
            rows.append(dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language=lang,
                             source_task=src, source_language="eng", score=base + 3.0 - j + 0.1 * i,
                             metric="accuracy", baseline_score=base, seed=1))
    return rows
