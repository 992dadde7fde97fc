"""Load test of ``GET /v1/recommendations``: ``stepstone serve`` (what ``make run`` starts), loopback.

    .venv/bin/python bench/load.py                  # both modes side by side, then load during retrain
    .venv/bin/python bench/load.py --modes distinct --seconds 10 --skip-churn
    .venv/bin/python bench/load.py --workers 1      # another worker count than ``stepstone serve``'s

Two modes, each on its own server over a copy of one home (``stepstone init``: the shipped store,
the default model and its answer table):

- ``fixed`` — one query again and again, answer cache on: what a cached answer costs;
- ``distinct`` — every (target language, task) with runs × k in (3, 5, 10), answer cache off
  (``STEPSTONE_CACHE_ENTRIES=0``): every request is looked up in the answer table, or computed.

Each mode prints requests/s, latency percentiles, errors, where the answers came from (the
``x-stepstone-answer`` header of every answer: the answer cache's hit rate, the answer table's
rate, the computed rate) and the server's CPU per request (all its processes, from ``/proc``).
The distinct mode then checks a sample of ``--check`` answers against the reference path
(``Service(use_table=False)``, every answer computed) and reports each worker's memory. Then, unless
``--skip-churn``, the distinct load runs again while a retrain (``POST /v1/models``) and
activations (``POST /v1/models/{v}/activate``) go through the API.

The client is a small asyncio HTTP/1.1 keep-alive client in this process (closed loop: each of
``--connections`` connections sends its next request when the previous answer arrived). It runs
on the same machine, so it competes with the server for the cores: the figures are for server
and client together. Latency is measured per request from write to the last byte of the answer.
Nothing is reached but 127.0.0.1.
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
    sources: dict[str, int] = field(default_factory=dict)  # x-stepstone-answer: cache, table, computed
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ms = [x * 1000 for x in self.latencies]
        n = len(ms)
        return {"requests": n, "errors": len(self.errors), "rps": round(n / self.seconds, 1) if self.seconds else 0,
                "p50_ms": round(pct(ms, 50), 2), "p90_ms": round(pct(ms, 90), 2), "p99_ms": round(pct(ms, 99), 2),
                "max_ms": round(max(ms), 2) if ms else None, "model_versions": self.versions,
                "first_errors": self.errors[:5]}


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, source = 0, "unlabelled"
    for line in lines[1:]:
        name = line[:19].lower()
        if name.startswith(b"content-length:"):
            length = int(line[15:])
        elif name == b"x-stepstone-answer:":
            source = line[19:].strip().decode()
    body = await reader.readexactly(length) if length else b""
    return status, body, source


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
                status, body, source = await _read_response(reader)
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
            tally.sources[source] = tally.sources.get(source, 0) + 1
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



def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children(pid: int) -> list[int]:
    try:
        kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [k for kid in kids for k in (kid, *children(kid))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(home: Path, port: int, workers: int | None, cache_entries: int | None, log: Path,
          token: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STEPSTONE_HOME": str(home), "STEPSTONE_API_TOKEN": token}
    if cache_entries is not None:
        env["STEPSTONE_CACHE_ENTRIES"] = str(cache_entries)
    cmd = [sys.executable, "-m", "stepstone", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    with open(log, "ab") as fh:
        server = subprocess.Popen(cmd, env=env, cwd=ROOT, stderr=fh, stdout=fh)
    deadline = time.monotonic() + 300
    while True:
        try:
            if http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"server did not start; see {log}")
        time.sleep(0.5)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


def measure(port: int, pid: int, paths: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    """One load run, with the server's CPU per request and where its answers came from (each answer's
    ``x-stepstone-answer`` header: the answer cache, the answer table, or computed)."""
    cpu0 = server_cpu(pid)
    tally = run_load(port, paths, seconds, connections)
    cpu = server_cpu(pid) - cpu0
    total = sum(tally.sources.values()) or 1
    return {**tally.summary(), "server_cpu_ms_per_request": round(cpu * 1000 / max(len(tally.latencies), 1), 3),
            "cache_hit_rate": round(tally.sources.get("cache", 0) / total, 4),
            "table_rate": round(tally.sources.get("table", 0) / total, 4),
            "computed_rate": round(tally.sources.get("computed", 0) / total, 4)}


def check_answers(home: Path, port: int, paths: list[bytes], n: int) -> dict[str, Any]:
    """Compare ``n`` sampled answers of the server with the reference path's (every answer computed)."""
    import random

    os.environ["STEPSTONE_HOME"] = str(home)
    from recommender.service import Service

    ref = Service(use_table=False)
    sample = random.Random(0).sample(paths, min(n, len(paths)))
    mismatches = []
    for path in sample:
        q = dict(urllib.parse.parse_qsl(path.decode().split("?", 1)[1]))
        status, got = http("GET", f"http://127.0.0.1:{port}{path.decode()}")
        want = ref.recommend(q["language"], q["task"], k=int(q["k"])).as_dict()
        if status != 200 or got != want:
            mismatches.append(path.decode())
    return {"checked": len(sample), "mismatches": len(mismatches), "first": mismatches[:3]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--modes", default="fixed,distinct", help="fixed, distinct or both (comma-separated)")
    ap.add_argument("--workers", type=int, default=None, help="server workers (default: stepstone serve's)")
    ap.add_argument("--check", type=int, default=500, help="answers compared with the reference path")
    ap.add_argument("--home", type=Path, default=None, help="STEPSTONE_HOME to copy (default: a fresh one)")
    ap.add_argument("--skip-churn", action="store_true")
    ap.add_argument("--churn", default="once", choices=("once", "loop"),
                    help="once: one retrain, a roll-back and a roll-forward; loop: retrain again and again")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="stepstone-load-"))
    seed = tmp / "seed"
    token = secrets.token_urlsafe(16)
    log = tmp / "server.log"
    try:
        if args.home:
            shutil.copytree(args.home, seed)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stepstone", "init"], env={**os.environ, "STEPSTONE_HOME": str(seed)},
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        print(f"`stepstone init` (seed, features, default model, answer table): {time.perf_counter() - t0:.1f} s; "
              f"answer tables: {[p.name for p in (seed / 'answers').glob('*.table')]}")
        result: dict[str, Any] = {}
        for mode in args.modes.split(","):
            home = tmp / mode
            shutil.copytree(seed, home, symlinks=True)
            port = free_port()
            server = start(home, port, args.workers, 0 if mode == "distinct" else None, log, token)
            try:
                base = f"http://127.0.0.1:{port}"
                paths = query_paths(base)
                if mode == "fixed":
                    paths = [b"/v1/recommendations?language=swa&task=xnli&k=3"]
                print(f"mode {mode}: cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
                      f"connections {args.connections}, distinct queries {len(paths)}, workers "
                      f"{args.workers or 'stepstone serve default'}, "
                      f"answer cache {'off' if mode == 'distinct' else 'on'}")
                run_load(port, paths, args.warmup, args.connections, record=False)
                out = measure(port, server.pid, paths, args.seconds, args.connections)
                print(f"  {mode}:", json.dumps(out))
                if mode == "distinct":
                    out["answers"] = check_answers(home, port, paths, args.check)
                    out["worker_rss_mib"] = [round(rss_mib(p), 1) for p in [server.pid, *children(server.pid)]]
                    print("  answers vs the reference path:", json.dumps(out["answers"]))
                    print("  memory (MiB RSS, server then workers) after the load:", out["worker_rss_mib"])
                    if not args.skip_churn:
                        stop_event = threading.Event()
                        ops: list[dict[str, Any]] = []
                        thread = threading.Thread(target=churn, args=(base, token, stop_event, ops,
                                                                      args.churn == "loop"))
                        thread.start()
                        during = run_load(port, paths, args.seconds, args.connections)
                        stop_event.set()
                        thread.join()
                        out["during_churn"] = {**during.summary(), "operations": ops}
                        print(f"  during retrain+activate ({args.churn}):", json.dumps(out["during_churn"]))
                result[mode] = out
            finally:
                stop(server)
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
