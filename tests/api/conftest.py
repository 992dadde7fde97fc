"""Fixtures for the API tests: one trained STEPSTONE_HOME per session, copied for tests that write."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from recommender.service import Service

LOCAL = ("127.0.0.1", 50000)  # a client on this machine (writes without a token need one)
BASE = "http://localhost"  # a Host name the server serves by default


def _with_home(path: Path) -> Callable[[], None]:
    old = os.environ.get("STEPSTONE_HOME")
    os.environ["STEPSTONE_HOME"] = str(path)

    def restore() -> None:
        if old is None:
            os.environ.pop("STEPSTONE_HOME", None)
        else:
            os.environ["STEPSTONE_HOME"] = old
    return restore


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded store, the feature cache, v0001 (current) and v0002 (registered): built once."""
    path = tmp_path_factory.mktemp("trained") / "home"
    restore = _with_home(path)
    try:
        service = Service()
        service.live()
        service.retrain(activate=False, n_estimators=50)  # a second, different model
        service.store.close()
    finally:
        restore()
    return path


def copy_home(trained_home: Path, path: Path) -> Path:
    shutil.copytree(trained_home, path)
    return path


@pytest.fixture
def home(trained_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the trained home, set as STEPSTONE_HOME for this test."""
    path = copy_home(trained_home, tmp_path / "home")
    monkeypatch.setenv("STEPSTONE_HOME", str(path))
    return path


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"api_token": None, "log_requests": False, "retrain_in_subprocess": False,
                              **overrides}
    return Settings(**values)


@pytest.fixture
def make_client(home: Path) -> Iterator[Callable[..., TestClient]]:
    """Build a client over the copied home with given settings (auth off and logs off by default)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(Service(), settings(**overrides)), raise_server_exceptions=False,
                            client=LOCAL, base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client over a private copy: it may write."""
    return make_client()


@pytest.fixture(scope="module")
def module_client(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., TestClient]]:
    """Clients over one copy shared by a module's tests (for tests whose writes are all refused)."""
    path = copy_home(trained_home, tmp_path_factory.mktemp("module") / "home")
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        restore = _with_home(path)
        try:
            client = TestClient(create_app(Service(), settings(**overrides)), raise_server_exceptions=False,
                            client=LOCAL, base_url=BASE)
            client.__enter__()
        finally:
            restore()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def ro_client(trained_home: Path) -> Iterator[TestClient]:
    """A client shared by read-only tests (never write through it)."""
    restore = _with_home(trained_home)  # only while the service opens its files
    try:
        client = TestClient(create_app(Service(), settings()), client=LOCAL, base_url=BASE)
        client.__enter__()
        client.get("/v1/recommendations", params={"language": "swa", "task": "xnli"})
    finally:
        restore()
    yield client
    client.__exit__(None, None, None)

