"""Workers that meet one stale lock at once: exactly one of them holds it (bench/lock_race.py at scale)."""

from __future__ import annotations

import collections
import json
import multiprocessing as mp
import socket
from pathlib import Path
from typing import Any

from trainer.matrix.lock import JobLock

DEAD_PID = 2**22 - 7  # above the default pid_max: never a live process


def _worker(root: Path, trials: int, barrier: Any, results: Any) -> None:
    for trial in range(trials):
        barrier.wait()
        lock = JobLock(root / f"t{trial}" / "lock", heartbeat_s=3600)
        got = lock.try_acquire()
        results.put((trial, got))
        barrier.wait()
        if got:
            lock._stop.set()


def test_a_stale_lock_is_taken_over_by_exactly_one_worker(tmp_path: Path) -> None:
    workers, trials = 4, 400  # the unguarded break gave 12 double holds in 400 trials
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(tmp_path, trials, barrier, results)) for _ in range(workers)]
    for p in procs:
        p.start()
    for trial in range(trials):
        (tmp_path / f"t{trial}").mkdir()
        (tmp_path / f"t{trial}" / "lock").write_text(json.dumps(
            {"host": socket.gethostname(), "pid": DEAD_PID, "nonce": "dead", "since": 0}))
        barrier.wait()
        barrier.wait()
    holders = collections.Counter(trial for trial, got in (results.get() for _ in range(workers * trials)) if got)
    for p in procs:
        p.join(timeout=30)
    assert collections.Counter(holders.get(t, 0) for t in range(trials)) == {1: trials}
    assert not list(tmp_path.glob("t*/lock.break"))  # no side lock left behind
