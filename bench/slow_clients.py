"""Slow clients against the server as ``make run`` starts it: are normal requests still answered?

Run:  PYTHONPATH=. .venv/bin/python bench/slow_clients.py [--slow 1100] [--seconds 30] [--nofile 1024]
                                                          [--mode head|body] [--home HOME]

Starts ``python -m api`` (``api.server``: read timeouts, connection limits) on a free loopback port
with its open-files limit set to ``--nofile`` (soft and hard: the raise to the hard limit cannot
help), opens ``--slow`` connections that send a request head one line every 10 s (``head``) or a
POST body one byte every 10 s (``body``), and from the 5th second sends 10 normal
``GET /v1/recommendations`` one second apart. Prints each normal request's latency (or error), and
how many slow connections the server closed before the clients gave up. Nothing but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from pathlib import Path

from local_api import start_api, stop_api


async def slow(port: int, mode: str, seconds: float, state: dict[str, int]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        state["connect_errors"] += 1
        return
    state["open"] += 1
    if mode == "head":
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    else:
        writer.write(b"POST /v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                     b"Content-Length: 10000000\r\n\r\ntarget_task")
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                if await asyncio.wait_for(reader.read(1), timeout=10):
                    continue  # an answer (408) arrives before the close
                raise ConnectionError("closed")
            except TimeoutError:
                writer.write(b"X-a: b\r\n" if mode == "head" else b"x")
                await writer.drain()
    except (OSError, ConnectionError):
        state["closed_by_server"] += 1
    state["open"] -= 1
    writer.close()


async def probe(port: int, state: dict[str, int]) -> list[object]:
    await asyncio.sleep(5)
    out: list[object] = []
    for _ in range(10):
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout=30)
            writer.write(b"GET /v1/recommendations?language=sw&task=xnli HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Connection: close\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout=30)
            await reader.read()
            writer.close()
            out.append(f"{head.split()[1].decode()} {1000 * (time.perf_counter() - t0):.1f} ms "
                       f"({state['open']} slow open)")
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            out.append(f"error {exc!r:.60}")
        await asyncio.sleep(1)
    return out


async def run(port: int, n: int, mode: str, seconds: float) -> tuple[list[object], dict[str, int]]:
    state = {"open": 0, "closed_by_server": 0, "connect_errors": 0}
    tasks = [asyncio.create_task(slow(port, mode, seconds, state)) for _ in range(n)]
    probes = await probe(port, state)
    await asyncio.gather(*tasks)
    return probes, state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", type=int, default=1100)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--nofile", type=int, default=1024)
    ap.add_argument("--mode", choices=("head", "body"), default="head")
    ap.add_argument("--home", type=Path, default=None, help="a STEPSTONE_HOME to copy (default: a fresh one)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # this client needs one per connection
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.slow + 200)), hard))

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

    tmp, port, server = start_api("stepstone-slow-", args.home, preexec_fn=limit)
    try:
        probes, state = asyncio.run(run(port, args.slow, args.mode, args.seconds))
        print(f"server open-files limit {args.nofile}; {args.slow} slow connections ({args.mode}), "
              f"{args.seconds:.0f} s")
        print("normal requests:", probes)
        answered = sum(1 for p in probes if str(p).startswith("200"))
        print(f"answered {answered}/10; slow connections closed by the server: {state['closed_by_server']}, "
              f"refused at connect: {state['connect_errors']}")
    finally:
        stop_api(server, tmp, timeout=20)


if __name__ == "__main__":
    main()
