"""A throwaway API server for the benches that attack one (flood, slow clients, uploads).

``start_api`` copies a home (or starts a fresh one) into a temporary folder, runs ``python -m api``
on a free loopback port (the server ``make run`` uses: read timeouts, connection limits) and waits
for ``/healthz``; ``stop_api`` ends it and removes the folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_api(prefix: str, home: Path | None, env: dict[str, str] | None = None,
              preexec_fn: Callable[[], None] | None = None) -> tuple[Path, int, subprocess.Popen[bytes]]:
    """(temporary folder, port, server process) of a server that answers ``/healthz``."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    if home:
        shutil.copytree(home, tmp / "home")
    port = free_port()
    full = {**os.environ, "STEPSTONE_HOME": str(tmp / "home"), "STEPSTONE_PORT": str(port),
            "STEPSTONE_LOG_REQUESTS": "false", **(env or {})}
    server = subprocess.Popen([sys.executable, "-m", "api"], env=full, cwd=ROOT, preexec_fn=preexec_fn,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return tmp, port, server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_api(server, tmp)
                sys.exit("server did not start")
            time.sleep(0.5)


def stop_api(server: subprocess.Popen[bytes], tmp: Path, timeout: float = 30) -> None:
    server.terminate()
    server.wait(timeout=timeout)
    shutil.rmtree(tmp, ignore_errors=True)
