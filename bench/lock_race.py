"""Workers racing on a stale job lock: how many trials end with more than one holder (must be 0).

Run:  PYTHONPATH=. .venv/bin/python bench/lock_race.py [--workers 2] [--trials 3000] [--dir DIR]

Per trial the parent writes a lock whose holder is a dead process on this host (stale), then
releases all workers at once (a barrier); each calls ``JobLock.try_acquire`` once; the parent
counts the holders. Prints the distribution of trials by number of holders, as JSON.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from trainer.matrix.lock import JobLock

DEAD_PID = 2**22 - 7  # above the default pid_max of 4,194,304: never a live process


def write_stale(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": DEAD_PID, "nonce": "dead", "since": 0}))


def _worker(root: Path, trials: int, barrier: Any, results: Any, index: int) -> None:
    for trial in range(trials):
        barrier.wait()  # the parent has written the stale lock
        lock = JobLock(root / f"t{trial}" / "lock", heartbeat_s=3600)
        got = lock.try_acquire()
        results.put((trial, index, got))
        barrier.wait()  # everyone has tried
        if got:
            lock._stop.set()  # keep the file: a holder would still be running


def race(workers: int, trials: int, root: Path) -> dict[int, int]:
    """{number of holders: trials}."""
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(root, trials, barrier, results, i)) for i in range(workers)]
    for p in procs:
        p.start()
    for trial in range(trials):
        write_stale(root / f"t{trial}" / "lock")
        barrier.wait()
        barrier.wait()
    got = [results.get() for _ in range(workers * trials)]
    for p in procs:
        p.join()
    holders = collections.Counter(trial for trial, _, ok in got if ok)
    return dict(sorted(collections.Counter(holders.get(t, 0) for t in range(trials)).items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.dir or Path(tmp)
        t0 = time.perf_counter()
        dist = race(args.workers, args.trials, root)
        print(json.dumps({"workers": args.workers, "trials": args.trials, "trials_by_number_of_holders": dist,
                          "double_holds": sum(n for holders, n in dist.items() if holders > 1),
                          "seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
