"""A model swap under load: requests running while versions are activated never fail.

A real uvicorn server (one worker, loopback) in a thread; client threads query it while the main
thread rolls the model back and forth, then retrains. Every answer is a 200 from a registered version.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.settings import Settings
from recommender.service import Service


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    app = create_app(Service(), Settings(api_token=None, log_requests=False, retrain_in_subprocess=True))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.mark.slow
def test_requests_never_fail_during_activation(server: str) -> None:
    stop = threading.Event()
    seen: Counter[str] = Counter()
    failures: list[str] = []
    lock = threading.Lock()

    def hammer(worker: int) -> None:
        languages = ["swa", "hin", "tha", "deu", "urd", "vie"]
        with httpx.Client(base_url=server, timeout=120) as client:
            i = 0
            while not stop.is_set():
                i += 1
                params = {"language": languages[(i + worker) % len(languages)], "task": "xnli", "k": 1 + i % 50}
                try:
                    r = client.get("/v1/recommendations", params=params)
                    with lock:
                        if r.status_code == 200:
                            seen[r.json()["model_version"]] += 1
                        else:
                            failures.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(repr(exc))
                time.sleep(0.002)  # steady load that leaves the (niced) retrain process some CPU

    threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    try:
        with httpx.Client(base_url=server, timeout=300) as admin:  # a retrain on 2 busy cores can take minutes
            for i in range(12):
                version = "v0002" if i % 2 == 0 else "v0001"
                r = admin.post(f"/v1/models/{version}/activate")
                assert r.status_code == 200, r.text
                time.sleep(0.1)
            assert admin.get("/v1/models/current").json()["version"] == "v0001"
            r = admin.post("/v1/models")  # a retrain in a child process, then its switch
            assert r.status_code == 201, r.text
            assert admin.get("/v1/models/current").json()["version"] == "v0003"
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert set(seen) == {"v0001", "v0002", "v0003"} and sum(seen.values()) > 50
