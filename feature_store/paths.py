"""Where stepstone keeps its state: ``$STEPSTONE_HOME`` or the XDG data dir."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from feature_store.errors import InvalidRequest


def home() -> Path:
    """The state folder (run store, feature cache, model registry); created on first use.

    A folder that cannot be created or written (a read-only ``STEPSTONE_HOME``) is not an error
    here: reads still work, and each writer reports its own refusal (``RunStore`` opens read-only).
    """
    env = os.environ.get("STEPSTONE_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(xdg) / "stepstone"
    _make_dir(path)
    return path


def _make_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)


def store_path() -> Path:
    return home() / "runs.sqlite"


def cache_dir() -> Path:
    path = home() / "cache"
    _make_dir(path)
    return path


def models_dir() -> Path:
    path = home() / "models"
    _make_dir(path)
    return path


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` so that readers see the old file or the new one, never a part.

    The data goes to a new temp file in the target's folder, created with ``O_EXCL`` under a
    random name (``.<name>.<random>.tmp``: a planted file or symlink cannot be reused, and two
    writers never share one), then renamed over the target. A target that exists and is not a
    regular file (a symlink, FIFO, device or folder) is refused with ``InvalidRequest``: renaming
    over it would replace ``/dev/full`` or a link with a file, which nobody asked for.
    """
    path = Path(path)
    _check_target(path)
    tmp = _exclusive_temp(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _check_target(path)  # the target may have been swapped while we wrote
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def temp_files(folder: Path, name: str) -> list[Path]:
    """The temp files ``atomic_write_bytes`` left for ``name`` in ``folder`` (after a crash)."""
    return sorted(p for p in folder.glob(f".{name}.*.tmp") if p.is_file() and not p.is_symlink())


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _check_target(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        kind = ("a symlink" if stat.S_ISLNK(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a folder" if stat.S_ISDIR(st.st_mode) else "a device or socket")
        raise InvalidRequest(f"refusing to write {str(path)!r}: it is {kind}, not a regular file")


def _exclusive_temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; some platforms cannot open a folder, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
