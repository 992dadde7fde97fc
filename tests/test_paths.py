"""The state folder's safe writer: O_EXCL temp files beside the target, never a non-regular target."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest
from feature_store.paths import atomic_write_bytes, home, temp_files


def test_writes_and_replaces_a_regular_file(tmp_path: Path) -> None:
    target = tmp_path / "runs.csv"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert temp_files(tmp_path, "runs.csv") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_refuses_a_symlink_and_leaves_its_target_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    with pytest.raises(InvalidRequest, match="it is a symlink, not a regular file"):
        atomic_write_bytes(link, b"data")
    assert link.is_symlink() and victim.read_bytes() == b"keep"


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.raises(InvalidRequest, match="it is a FIFO"):
        atomic_write_bytes(fifo, b"data")


def test_refuses_a_socket_or_device(tmp_path: Path) -> None:
    """Made in tmp_path: a test never points a writer at a real device (an old writer replaced it)."""
    import socket

    sock_path = tmp_path / "out.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        with pytest.raises(InvalidRequest, match="it is a device or socket"):
            atomic_write_bytes(sock_path, b"data")
    assert sock_path.is_socket()
    device = tmp_path / "full"
    try:
        os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 7))
    except (PermissionError, AttributeError):
        return  # no CAP_MKNOD here; the socket covers the branch
    with pytest.raises(InvalidRequest, match="it is a device or socket"):
        atomic_write_bytes(device, b"data")
    assert device.is_char_device()


def test_a_planted_temp_file_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    for name in (f".out.csv.{os.getpid()}.tmp", ".out.csv.tmp"):  # the names a writer could guess
        (tmp_path / name).symlink_to(victim)
    atomic_write_bytes(tmp_path / "out.csv", b"data")
    assert victim.read_bytes() == b"keep"
    assert (tmp_path / "out.csv").read_bytes() == b"data"


def test_home_that_cannot_be_created_is_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("STEPSTONE_HOME", str(blocker / "home"))
    assert home() == blocker / "home"
