"""SIGKILL in the middle of an import or a retrain leaves the store and the live model as they were.

Each test runs the real service functions in a child process that stops itself at a chosen point
(it patches a function to print ``PAUSED`` and sleep), kills it with SIGKILL there, and compares
fingerprints of the store and the current model before and after.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from feature_store.runs.store import RunStore
from recommender.model.registry import ModelRegistry
from recommender.service import Service

CHILD = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path

    point = sys.argv[1]

    def pause(*_args, **_kwargs):
        print("PAUSED", point, flush=True)
        while True:
            time.sleep(1)

    from feature_store.runs.run import Run
    from recommender.model.ranker import TransferRanker
    from recommender.service import Service

    service = Service()
    service.live()
    if point == "import-transaction":
        runs = [Run("xnli", "swa", "xnli", "deu", 0.5, dataset="crash", seed=i) for i in range(100_000)]
        conn = service.store._conn

        def handler():
            if conn.in_transaction and conn.total_changes > 0:  # rows of this import already written
                pause()
            return 0

        conn.set_progress_handler(handler, 20_000)
        service.import_runs(runs)
    else:
        if point == "retrain-fitted":  # the model is trained in memory, nothing written yet
            fit = TransferRanker.fit
            def paused_fit(self, ts):
                fit(self, ts)
                pause()
            TransferRanker.fit = paused_fit
        elif point == "retrain-rename":  # version files written and fsynced, folder not renamed in
            import recommender.model.registry as registry
            registry.os.rename = pause
        elif point == "retrain-switch":  # version registered; `current` about to be replaced
            replace = os.replace
            def paused_replace(src, dst):
                if Path(dst).name == "current":
                    pause()
                replace(src, dst)
            os.replace = paused_replace
        service.retrain(n_estimators=10)
    print("DONE", flush=True)
''')


def snapshot(home: Path) -> dict[str, Any]:
    with RunStore(home / "runs.sqlite") as store:
        integrity = store._conn.execute("PRAGMA integrity_check").fetchone()[0]
        state: dict[str, Any] = {"fingerprint": store.fingerprint(), "runs": store.count(),
                                 "revision": store.revision(), "integrity": integrity}
    registry = ModelRegistry(home / "models")
    current = registry.current()
    assert current is not None
    folder = registry.versions_dir / current
    state["current"] = current
    state["current_files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
    state["versions"] = registry.versions()
    return state


def kill_at(home: Path, point: str, timeout: float = 90.0) -> None:
    env = {**os.environ, "STEPSTONE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, point], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + timeout
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # blocks until the child reaches the point (or dies)
        assert line.strip() == f"PAUSED {point}", (line, child.stderr.read() if child.poll() is not None else "")
        assert time.monotonic() < deadline
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("point", ["import-transaction", "retrain-fitted", "retrain-rename"])
def test_sigkill_leaves_everything_as_before(home: Path, point: str) -> None:
    before = snapshot(home)
    kill_at(home, point)
    after = snapshot(home)
    assert after == before
    assert after["integrity"] == "ok"
    service = Service()  # a restarted server: same data, same model, and it answers
    assert service.live().version == before["current"]
    assert service.recommend("swa", "xnli").model_version == before["current"]
    service.registry.cleanup()
    assert not list(service.registry.versions_dir.glob(".tmp-*"))


def test_sigkill_before_the_switch_keeps_the_current_model(home: Path) -> None:
    before = snapshot(home)
    kill_at(home, "retrain-switch")
    after = snapshot(home)
    new = sorted(set(after.pop("versions")) - set(before.pop("versions")))
    assert after == before  # the store and the current model are untouched
    assert new == ["v0003"]  # the new version is whole (it verifies) but not live
    assert ModelRegistry(home / "models").load("v0003").version == "v0003"
    assert Service().live().version == before["current"]
