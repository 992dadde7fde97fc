"""A lock file that two workers, on one machine or several sharing a filesystem, cannot both hold.

The lock is created with ``O_CREAT | O_EXCL``, atomic on local filesystems and on NFS v3 and later,
and holds who took it (host, pid, a nonce). While held, a thread touches it every ``heartbeat_s``.
A lock is stale, and may be broken, when its holder is a dead process on this host, or when it has
not been touched for ``stale_s`` (a worker on another machine that died). Breaking renames the file
away first, so of two workers that find the same stale lock only one breaks it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any


class LockTimeout(TimeoutError):
    """Another live worker held the lock for longer than we were willing to wait."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class JobLock:
    """``with JobLock(path): ...`` holds ``path`` for the block; see the module docstring."""

    def __init__(
        self,
        path: Path,
        *,
        owner: str = "",
        heartbeat_s: float = 30.0,
        stale_s: float = 600.0,
        poll_s: float = 2.0,
        timeout_s: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.owner = owner
        self.heartbeat_s, self.stale_s, self.poll_s, self.timeout_s = heartbeat_s, stale_s, poll_s, timeout_s
        self.nonce = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def holder(self) -> dict[str, Any] | None:
        """What the lock file says about its holder, or None when there is no lock."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, OSError):
            return {}  # being written right now, or garbage: judged by its age alone

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never waits."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):  # once as found; once more after breaking a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._break_if_stale():
                    return False
                continue
            info = {"host": socket.gethostname(), "pid": os.getpid(), "nonce": self.nonce, "owner": self.owner}
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({**info, "since": time.time()}, fh)
            self._start_heartbeat()
            return True
        return False

    def acquire(self) -> None:
        """Wait until the lock is ours (LockTimeout after ``timeout_s``)."""
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s
        while not self.try_acquire():
            if deadline is not None and time.monotonic() > deadline:
                raise LockTimeout(f"{self.path} is held by {self.holder()}")
            time.sleep(self.poll_s)

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        holder = self.holder()
        if holder is not None and holder.get("nonce") == self.nonce:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def is_stale(self) -> bool:
        holder = self.holder()
        if holder is None:
            return False
        if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
            if not _alive(holder["pid"]):
                return True
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        return age > self.stale_s

    def _break_if_stale(self) -> bool:
        if not self.is_stale():
            return False
        graveyard = self.path.with_name(f"{self.path.name}.stale.{self.nonce}")
        try:
            os.rename(self.path, graveyard)  # only one of several breakers gets the file
        except FileNotFoundError:
            return True  # someone else broke it (or it was released): try to create it again
        graveyard.unlink(missing_ok=True)
        return True

    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.heartbeat_s):
                try:
                    os.utime(self.path)
                except FileNotFoundError:
                    return

        self._beat = threading.Thread(target=beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._beat.start()
