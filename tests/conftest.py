"""Shared fixtures: every test gets its own $STEPSTONE_HOME; a trained home is built once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import clone_home


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
