"""Benchmark of the foundation's figures; run by hand: ``.venv/bin/python bench/recommend.py``.

Prints, for one query (UD-POS, Yoruba: the largest catalogue, every shipped source language):
- in-process ``Service.recommend`` p50/p99 over all catalogue candidates;
- REST ``GET /v1/recommendations`` p50/p99 on loopback (uvicorn, one worker, one client);
- ``stepstone recommend … --format json`` whole-process wall time (median of 5);
- ``stepstone retrain`` wall time on the shipped data;
- a cold ``stepstone init`` (seed + feature cache + default model) in an empty home.
It works in a temporary ``STEPSTONE_HOME`` and leaves nothing behind.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
QUERY = {"language": "yor", "task": "udpos", "k": 3, "candidates": "all"}


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="stepstone-bench-"))
    env = {**os.environ, "STEPSTONE_HOME": str(home)}
    os.environ["STEPSTONE_HOME"] = str(home)
    try:
        init_s = timed([str(BIN / "stepstone"), "init"], env)
        print(f"cold `stepstone init` (seed store, build feature cache, train default model): {init_s:.2f} s")

        from feature_store.tasks import registry
        from recommender.answers.candidates import candidate_pool
        from recommender.service import Service

        svc = Service()
        svc.live()
        pool, _, _ = candidate_pool(svc.catalogue(), registry().get("udpos"), "yor")
        n_candidates = len(pool)
        for query in (QUERY, {**QUERY, "candidates": "language"}, {**QUERY, "k": 50}):
            for _ in range(50):
                svc.recommend(**query)
            lat = []
            for _ in range(2000):
                t0 = time.perf_counter()
                svc.recommend(**query)
                lat.append((time.perf_counter() - t0) * 1e3)
            print(f"in-process recommend {query} (scores all {n_candidates} catalogue candidates): "
                  f"p50 {pct(lat, 50):.3f} ms, p99 {pct(lat, 99):.3f} ms (2000 calls)")
        langs = [row["code"] for row in svc.languages() if row["target_runs"]]

        port = free_port()
        server = subprocess.Popen([str(BIN / "stepstone"), "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            import httpx

            url = f"http://127.0.0.1:{port}/v1/recommendations"
            params = {"language": "sw", "task": "xnli", "k": 3}
            with httpx.Client() as client:
                for _ in range(200):
                    try:
                        if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                for _ in range(100):
                    client.get(url, params=params)
                for label, stream in (
                    ("same query: answer-cache hits", ({"language": "sw", "task": "xnli", "k": 3}
                                                       for _ in range(2000))),
                    ("distinct queries: cache misses", ({"language": lang, "task": "udpos", "k": k}
                                                        for k in range(1, 51) for lang in langs)),
                ):
                    rest = []
                    for params in itertools.islice(stream, 2000):
                        t0 = time.perf_counter()
                        r = client.get(url, params=params)
                        rest.append((time.perf_counter() - t0) * 1e3)
                        assert r.status_code == 200, r.text
                    print(f"REST GET /v1/recommendations, single client, keep-alive, {label}: "
                          f"p50 {pct(rest, 50):.3f} ms, p99 {pct(rest, 99):.3f} ms ({len(rest)} requests)")
        finally:
            server.terminate()
            server.wait(timeout=10)

        cmd = [str(BIN / "stepstone"), "recommend", "--language", "sw", "--task", "xnli", "--k", "3",
               "--format", "json"]
        walls = [timed(cmd, env) for _ in range(5)]
        bare = [timed([sys.executable, "-c", "import numpy, lightgbm"], env) for _ in range(5)]
        print(f"`stepstone recommend … --format json` whole process: median {statistics.median(walls):.3f} s, "
              f"max {max(walls):.3f} s (5 runs); bare `python -c 'import numpy, lightgbm'`: median "
              f"{statistics.median(bare):.3f} s")
        probe = ("import sys; from stepstone.cli import app\n"
                 "try: app(['recommend', '-l', 'sw', '-t', 'xnli', '--format', 'json'])\n"
                 "except SystemExit: pass\n"
                 "heavy = ('torch', 'transformers', 'pandas', 'sklearn', 'scipy.stats', 'matplotlib')\n"
                 "print('heavy modules loaded:', [m for m in heavy if m in sys.modules] or 'none', file=sys.stderr)")
        subprocess.run([sys.executable, "-c", probe], env=env, check=True, stdout=subprocess.DEVNULL)

        retrain = [timed([str(BIN / "stepstone"), "retrain"], env) for _ in range(3)]
        print(f"`stepstone retrain` on the shipped data ({svc.store.count()} runs): median "
              f"{statistics.median(retrain):.2f} s (3 runs, whole process)")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
