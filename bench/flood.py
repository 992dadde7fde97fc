"""Normal throughput while other clients ask for unknown language names, against it alone.

Run:  PYTHONPATH=. .venv/bin/python bench/flood.py [--seconds 15] [--connections 8] [--flood 8]
                                                  [--repeat] [--home HOME]

Starts ``python -m api`` on a free loopback port. Phase 1: ``--connections`` keep-alive
connections send normal, repeated ``GET /v1/recommendations`` queries (closed loop) for
``--seconds``. Phase 2: the same, while ``--flood`` more connections send queries for language
names nobody knows (a new random name each time; ``--repeat`` cycles 50 names instead). Prints both
rates, the flood's own rate and the ratio (the goal: normal keeps >= 50 % of its rate alone). The
client runs in this process on the same machine, so its figures are for server and client together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import string
import time
from pathlib import Path

from local_api import start_api, stop_api

NORMAL = [f"/v1/recommendations?language={lang}&task={task}".encode()
          for lang in ("swa", "hin", "tha", "deu", "urd", "vie", "ara", "bul") for task in ("xnli", "pawsx")]


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: bytes) -> int:
    writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:"), 0)
    await reader.readexactly(length)
    return int(head.split()[1])


async def client(port: int, paths: object, stop_at: float, counts: dict[str, int], name: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rnd = random.Random(name)
    i = rnd.randrange(1000)
    while time.perf_counter() < stop_at:
        if callable(paths):
            path = paths(rnd)
        else:
            path = paths[i % len(paths)]  # type: ignore[index]
        i += 1
        status = await _get(reader, writer, path)
        counts[name] += 1
        counts[f"{name} {status}"] = counts.get(f"{name} {status}", 0) + 1
    writer.close()


def unknown(repeat: bool) -> object:
    pool = ["".join(random.Random(i).choices(string.ascii_lowercase, k=9)) for i in range(50)]

    def path(rnd: random.Random) -> bytes:
        name = rnd.choice(pool) if repeat else "".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(5, 12)))
        return f"/v1/recommendations?language={name}&task=xnli".encode()
    return path


async def phase(port: int, seconds: float, connections: int, flood: int, repeat: bool) -> dict[str, int]:
    counts = {"normal": 0, "flood": 0}
    stop_at = time.perf_counter() + seconds
    tasks = [client(port, NORMAL, stop_at, counts, "normal") for _ in range(connections)]
    tasks += [client(port, unknown(repeat), stop_at, counts, "flood") for _ in range(flood)]
    await asyncio.gather(*tasks)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--flood", type=int, default=8)
    ap.add_argument("--repeat", action="store_true", help="cycle 50 unknown names instead of new ones")
    ap.add_argument("--home", type=Path, default=None, help="a STEPSTONE_HOME to copy (default: a fresh one)")
    args = ap.parse_args()
    tmp, port, server = start_api("stepstone-flood-", args.home)
    try:
        asyncio.run(phase(port, 3.0, args.connections, 0, args.repeat))  # warm the answer cache
        alone = asyncio.run(phase(port, args.seconds, args.connections, 0, args.repeat))
        both = asyncio.run(phase(port, args.seconds, args.connections, args.flood, args.repeat))
        rate = {k: round(v / args.seconds, 1) for k, v in both.items()}
        normal_alone = alone["normal"] / args.seconds
        names = "50 repeated" if args.repeat else "new"
        print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; {args.connections} normal connections, "
              f"{args.flood} flooding ({names} unknown names), {args.seconds:.0f} s each")
        print(f"normal alone: {normal_alone:.1f} req/s; under the flood: {rate['normal']} req/s "
              f"({100 * rate['normal'] / normal_alone:.0f} %); flood: {rate['flood']} req/s; statuses {rate}")
    finally:
        stop_api(server, tmp, timeout=20)


if __name__ == "__main__":
    main()
