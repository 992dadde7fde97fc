"""Load test of ``GET /v1/recommendations``: uvicorn, one worker, loopback, concurrent clients.

    .venv/bin/python bench/load.py                    # 30 s plain, then 30 s during retrain + activate
    .venv/bin/python bench/load.py --seconds 10 --connections 8 --cache-entries 0   # no answer cache
    .venv/bin/python bench/load.py --churn loop       # retrain after retrain during the second phase

Goal (issue 5): >= 1,000 requests/s with p99 <= 25 ms and 0 errors on 2 cores; then the same load
while a retrain (``POST /v1/models``) and activations (``POST /v1/models/{v}/activate``) run
through the API: 0 errors, and the p99 it reaches.

The client is a small asyncio HTTP/1.1 keep-alive client in this process (closed loop: each of
``--connections`` connections sends its next request when the previous answer arrived). It runs
on the same machine, so it competes with the server for the cores: the figures are for server
and client together. Latency is measured per request from write to the last byte of the answer.
The query mix cycles over every (target language, task) with runs in the store and k in
(3, 5, 10), so answers come from the per-version answer cache after the warm-up, as in a service
whose users ask the same questions; ``--cache-entries 0`` measures the uncached path. The server
keeps its JSON request log on (written to a file). Nothing is reached but 127.0.0.1.
(``wrk``, from Debian's ``apt-get install wrk``, gives comparable plain-load figures:
``wrk -t1 -c8 -d30s --latency 'http://127.0.0.1:PORT/v1/recommendations?language=swa&task=xnli'``.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ms = [x * 1000 for x in self.latencies]
        n = len(ms)
        return {"requests": n, "errors": len(self.errors), "rps": round(n / self.seconds, 1) if self.seconds else 0,
                "p50_ms": round(pct(ms, 50), 2), "p90_ms": round(pct(ms, 90), 2), "p99_ms": round(pct(ms, 99), 2),
                "max_ms": round(max(ms), 2) if ms else None, "model_versions": self.versions,
                "first_errors": self.errors[:5]}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(port: int, paths: list[bytes], offset: int, stop_at: float, tally: Tally | None,
                      check_version_every: int = 50) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try:
                status, body = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if tally is not None:
                    tally.errors.append(f"connection: {exc!r}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            elapsed = time.perf_counter() - t0
            if tally is None:
                continue
            if status != 200:
                tally.errors.append(f"{status} {body[:200]!r}")
                continue
            tally.latencies.append(elapsed)
            if i % check_version_every == 0:  # parse a sample: which model answered
                version = json.loads(body)["model_version"]
                tally.versions[version] = tally.versions.get(version, 0) + 1
    finally:
        writer.close()


def run_load(port: int, paths: list[bytes], seconds: float, connections: int, *, record: bool = True) -> Tally:
    tally = Tally()

    async def main() -> None:
        stop_at = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(_connection(port, paths, c * 997, stop_at, tally if record else None)
                               for c in range(connections)))
        tally.seconds = time.perf_counter() - t0

    asyncio.run(main())
    return tally


def http(method: str, url: str, token: str | None = None, timeout: float = 300) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def query_paths(base: str) -> list[bytes]:
    _, languages = http("GET", f"{base}/v1/languages")
    _, tasks = http("GET", f"{base}/v1/tasks")
    targets = [x["code"] for x in languages if x["target_runs"] > 0]
    task_ids = [t["id"] for t in tasks if t["runs"] > 0]
    paths = []
    for lang in targets:
        for task in task_ids:
            for k in (3, 5, 10):
                q = urllib.parse.urlencode({"language": lang, "task": task, "k": k})
                paths.append(f"/v1/recommendations?{q}".encode())
    return paths


def churn(base: str, token: str, stop: threading.Event, log: list[dict[str, Any]], loop: bool) -> None:
    """Retrain (which activates the new version), roll back, roll forward; again until stopped if ``loop``."""
    stop.wait(2.0)  # some load before the first operation
    while not stop.is_set():
        before = http("GET", f"{base}/v1/models/current")[1]["version"]
        t0 = time.perf_counter()
        status, body = http("POST", f"{base}/v1/models", token)
        log.append({"op": "retrain", "status": status, "seconds": round(time.perf_counter() - t0, 2),
                    "version": body.get("version") if isinstance(body, dict) else body})
        if status != 201:
            return
        for version in (before, body["version"]):
            if stop.is_set():
                return
            t0 = time.perf_counter()
            status, _ = http("POST", f"{base}/v1/models/{version}/activate", token)
            log.append({"op": f"activate {version}", "status": status,
                        "seconds": round(time.perf_counter() - t0, 2)})
            stop.wait(1.0)
        if not loop:
            return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--cache-entries", type=int, default=None, help="server answer-cache size (0: off)")
    ap.add_argument("--home", type=Path, default=None, help="STEPSTONE_HOME to copy (default: a fresh one)")
    ap.add_argument("--skip-churn", action="store_true")
    ap.add_argument("--churn", default="once", choices=("once", "loop"),
                    help="once: one retrain, a roll-back and a roll-forward; loop: retrain again and again")
    ap.add_argument("--http", default="auto", choices=("auto", "h11", "httptools"),
                    help="uvicorn's HTTP parser (auto: httptools when installed, else h11)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="stepstone-load-"))
    home = tmp / "home"
    if args.home:
        shutil.copytree(args.home, home)
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "STEPSTONE_HOME": str(home), "STEPSTONE_API_TOKEN": token}
    if args.cache_entries is not None:
        env["STEPSTONE_CACHE_ENTRIES"] = str(args.cache_entries)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp / "requests.log"
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log", "--http", args.http]
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=log_file, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if http("GET", f"{base}/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"server did not start; see {log_path}")
            time.sleep(0.5)
        paths = query_paths(base)
        try:
            import httptools  # noqa: F401
            parser = "httptools" if args.http != "h11" else "h11"
        except ImportError:
            parser = "h11"
        print(f"cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}  connections: {args.connections}  "
              f"distinct queries: {len(paths)}  http parser: {parser}  "
              f"cache entries: {args.cache_entries if args.cache_entries is not None else 'default'}")
        run_load(port, paths, args.warmup, args.connections, record=False)

        plain = run_load(port, paths, args.seconds, args.connections)
        print("plain:", json.dumps(plain.summary()))

        result: dict[str, Any] = {"plain": plain.summary()}
        if not args.skip_churn:
            stop = threading.Event()
            ops: list[dict[str, Any]] = []
            thread = threading.Thread(target=churn, args=(base, token, stop, ops, args.churn == "loop"))
            thread.start()
            during = run_load(port, paths, args.seconds, args.connections)
            stop.set()
            thread.join()
            print(f"during retrain+activate ({args.churn}):", json.dumps(during.summary()))
            print("operations:", json.dumps(ops))
            result["during_churn"] = {**during.summary(), "operations": ops}
        with open(log_path, "rb") as fh:
            lines = sum(1 for line in fh if line.startswith(b"{"))
        print(f"server JSON log lines: {lines}")
        print(json.dumps(result))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
