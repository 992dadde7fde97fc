"""The model registry trusts neither its pointer nor its files further than it can check them."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from feature_store.errors import ModelCorrupted, NoModel
from recommender.model.registry import VERIFIED_FILE, ModelRegistry
from recommender.service import Service


def _reseal(folder: Path, name: str) -> None:
    """Make meta.json's checksum of ``name`` match its (tampered) content, and forget verification."""
    meta = folder / "meta.json"
    data = json.loads(meta.read_text())
    data["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    meta.write_text(json.dumps(data))


@pytest.fixture
def two_versions(trained: Path) -> ModelRegistry:
    svc = Service()
    svc.live()
    svc.retrain(activate=False, n_estimators=10)
    return svc.registry


@pytest.mark.parametrize("pointer", [b"../../elsewhere/v0001\n", b"\xff\xfe\x00garbage", b"", b"v9999\n", None])
def test_a_bad_or_missing_pointer_keeps_the_last_activated_version(two_versions: ModelRegistry,
                                                                   pointer: bytes | None) -> None:
    reg = two_versions
    path = reg.root / "current"
    if pointer is None:
        path.unlink()
    else:
        path.write_bytes(pointer)
    assert reg.pointer() == reg.current() == "v0001"  # from current.bak: not the newest, v0002
    svc = Service()
    assert svc.live().version == "v0001"  # start-up survives, and nothing is trained
    assert reg.versions() == ["v0001", "v0002"]
    (reg.root / "current.bak").unlink()  # no backup either: the newest, with a warning
    assert reg.pointer() is None and reg.current() == "v0002"


def test_a_rollback_survives_a_junk_pointer_and_a_missing_meta_json(two_versions: ModelRegistry,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    reg = two_versions
    reg.activate("v0002")
    reg.activate("v0001")  # the rollback
    (reg.root / "current").write_text("garbage\n")
    assert Service().live().version == "v0001"
    reg.activate("v0002")
    (reg.versions_dir / "v0002" / "meta.json").unlink()  # the current version is damaged
    with caplog.at_level("ERROR", logger="stepstone"):
        assert Service().live().version == "v0001"  # start-up falls back, and says so
    assert "model v0002 (current) cannot be used" in caplog.text and "serving v0001" in caplog.text


def test_a_version_name_is_never_a_path(two_versions: ModelRegistry) -> None:
    with pytest.raises(NoModel):
        two_versions.load("../versions/v0001")
    with pytest.raises(NoModel):
        two_versions.activate("v0001/../v0002")


def test_a_file_missing_from_the_checksum_list_is_refused(two_versions: ModelRegistry) -> None:
    folder = two_versions.versions_dir / "v0002"
    data = json.loads((folder / "meta.json").read_text())
    del data["files"]["prior.json"]
    (folder / "meta.json").write_text(json.dumps(data))
    (folder / "prior.json").write_text("[]")  # tampered, and no longer checksummed
    with pytest.raises(ModelCorrupted, match="does not list prior.json"):
        two_versions.load("v0002")


def test_a_model_file_that_aborts_the_parser_is_caught_in_a_child_process(two_versions: ModelRegistry) -> None:
    folder = two_versions.versions_dir / "v0002"
    ranker = folder / "ranker.txt"
    ranker.write_text(ranker.read_text().replace("tree_sizes=", "tree_sizes=1 ", 1))  # LightGBM SIGABRTs
    _reseal(folder, "ranker.txt")
    with pytest.raises(ModelCorrupted, match="verification process"):
        two_versions.activate("v0002")
    assert two_versions.current() == "v0001"
    (two_versions.root / "current").write_text("v0002\n")  # another process moved the pointer anyway
    assert Service().live().version == "v0001"  # this process is still alive, and serves the last good one
    with pytest.raises(ModelCorrupted, match="signal"):
        two_versions.load("v0002")


def _flip(home: str, versions: list[str], rounds: int, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    os.environ["STEPSTONE_HOME"] = home
    reg = ModelRegistry(Path(home) / "models")
    for i in range(rounds):
        try:
            reg.activate(versions[i % 2])
        except Exception as exc:  # noqa: BLE001 - any failure is what the test counts
            errors.put(repr(exc))


def test_concurrent_activations_never_fail_and_leave_a_valid_pointer(two_versions: ModelRegistry) -> None:
    home = str(two_versions.root.parent)
    errors: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.get_context("fork").Process(target=_flip, args=(home, order, 25, errors))
             for order in (["v0001", "v0002"], ["v0002", "v0001"], ["v0001", "v0002"])]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert all(p.exitcode == 0 for p in procs)
    assert errors.empty()
    assert two_versions.pointer() in ("v0001", "v0002")
    assert not list(two_versions.root.glob(".current.*"))  # no temporary pointer left behind
    assert (two_versions.versions_dir / "v0002" / VERIFIED_FILE).is_file()
