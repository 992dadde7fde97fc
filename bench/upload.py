"""A 10 MB CSV upload against the server: its peak memory, and /healthz meanwhile.

Run:  PYTHONPATH=. .venv/bin/python bench/upload.py [--mb 10] [--concurrent 6] [--home HOME]

Starts ``python -m api`` on a free loopback port, writes a CSV of about ``--mb`` MB (~16k rows per
MB) and POSTs it once, then ``--concurrent`` times at once (each with its own dataset name), while
a client GETs ``/healthz`` every 50 ms. Prints the server's peak resident memory (VmHWM) before and
after each phase, the slowest /healthz, and the statuses of the uploads.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from pathlib import Path

import httpx
from local_api import start_api, stop_api

LANGS = ["swa", "hin", "tha", "deu", "urd", "vie", "ara", "bul", "fra", "rus", "spa", "tur", "ell", "zho"]


def csv_body(mb: float, dataset: str) -> bytes:
    rnd = random.Random(0)
    lines = ["dataset,model,target_task,target_language,source_task,source_language,source_size,score,metric,"
             "baseline_score,seed"]
    size, i = 0, 0
    while size < mb * 1e6:
        line = (f"{dataset},xlm-r,xnli,{LANGS[i % 14]},xnli,{LANGS[(i // 14) % 14]},{1000 + i},"
                f"{rnd.uniform(20, 80):.4f},accuracy,50.0,{i // 196}")
        lines.append(line)
        size += len(line) + 1
        i += 1
    return ("\n".join(lines) + "\n").encode()


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def uploads(base: str, bodies: list[bytes]) -> tuple[list[int], float]:
    done = asyncio.Event()
    slowest = 0.0

    async def health(client: httpx.AsyncClient) -> None:
        nonlocal slowest
        while not done.is_set():
            t0 = time.perf_counter()
            await client.get("/healthz")
            slowest = max(slowest, time.perf_counter() - t0)
            await asyncio.sleep(0.05)

    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        probe = asyncio.create_task(health(client))
        statuses = [r.status_code for r in await asyncio.gather(
            *(client.post("/v1/runs", content=b, headers={"content-type": "text/csv"}) for b in bodies))]
        done.set()
        await probe
    return statuses, slowest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--concurrent", type=int, default=6)
    ap.add_argument("--home", type=Path, default=None, help="a STEPSTONE_HOME to copy (default: a fresh one)")
    args = ap.parse_args()
    limits = {"STEPSTONE_MAX_BODY_BYTES": str(int(args.mb * 1.2e6))}
    tmp, port, server = start_api("stepstone-upload-", args.home, limits)
    base = f"http://127.0.0.1:{port}"
    try:
        body = csv_body(args.mb, "upload-0")
        rows = body.count(b"\n") - 1
        print(f"CSV: {len(body) / 1e6:.1f} MB, {rows} rows")
        before = peak_mb(server.pid)
        t0 = time.perf_counter()
        statuses, slowest = asyncio.run(uploads(base, [body]))
        print(f"one upload: {statuses} in {time.perf_counter() - t0:.1f} s; peak memory {before:.0f} -> "
              f"{peak_mb(server.pid):.0f} MB; slowest /healthz meanwhile {1000 * slowest:.0f} ms")
        bodies = [csv_body(args.mb, f"upload-{k + 1}") for k in range(args.concurrent)]
        before = peak_mb(server.pid)
        statuses, slowest = asyncio.run(uploads(base, bodies))
        print(f"{args.concurrent} at once: statuses {statuses}; peak memory {before:.0f} -> "
              f"{peak_mb(server.pid):.0f} MB; slowest /healthz meanwhile {1000 * slowest:.0f} ms")
    finally:
        stop_api(server, tmp, timeout=30)


if __name__ == "__main__":
    main()
