"""The model registry: versioned folders of LightGBM text models + ``meta.json``.

Layout under ``$STEPSTONE_HOME/models``::

    versions/v0001/ ranker.txt gain.txt prior.json params.json meta.json
    current          a one-line file naming the live version, replaced atomically
    current.bak      the same, written after it: a junk or deleted ``current`` falls back to it

A version is written into a temporary folder and renamed into place in one step, so a crash
leaves either no version or a whole one; ``current`` is only switched after that. Every file's
SHA-256 is in ``meta.json`` and checked on load: a tampered file is refused, never half-used.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feature_store import errors
from feature_store.errors import ModelCorrupted, NoModel, StepstoneError, StoreUnavailable
from feature_store.paths import atomic_write_bytes, models_dir
from recommender.model.calibration import Calibration
from recommender.model.ranker import TransferRanker

CALIBRATION_FILE = "calibration.json"  # checksummed with the model: part of the version
EVALUATION_FILE = "evaluation.json"  # informational, written after registration: not checksummed
VERIFIED_FILE = ".verified"  # the meta.json checksum of a version that loaded in a child process
REQUIRED_FILES = frozenset({"ranker.txt", "prior.json", "params.json", "blend.json"})
UNLISTED_FILES = frozenset({"meta.json", EVALUATION_FILE, VERIFIED_FILE})

_VERSION = re.compile(r"^v(\d{4,})$")
BACKUP = "current.bak"
log = logging.getLogger("stepstone")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_versions() -> dict[str, str]:
    import lightgbm
    import numpy

    return {"python": platform.python_version(), "lightgbm": lightgbm.__version__, "numpy": numpy.__version__}


@dataclass(frozen=True)
class LoadedModel:
    """A verified model version: the ranker, its interval calibration (if any) and its metadata."""

    version: str
    model: TransferRanker
    meta: dict[str, Any]
    calibration: Calibration | None = None


class ModelRegistry:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else models_dir()
        self.versions_dir = self.root / "versions"
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        self._reported = ""

    def versions(self) -> list[str]:
        names = [p.name for p in self.versions_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    def pointer(self) -> str | None:
        """The version the ``current`` file names, validated; None when it is absent, empty or bad.

        Only a registered version's name (``v0001``) is accepted: never a path, so a pointer
        holding ``../../elsewhere/v0001`` or garbage bytes cannot make anything load. A bad or
        deleted ``current`` falls back to ``current.bak`` (written by every activation), with a
        warning, so that a damaged pointer never undoes a rollback.
        """
        name = self._read_pointer("current")
        if name is None:
            backup = self._read_pointer(BACKUP)
            if backup is not None and (self.root / "current").exists():
                log.warning("the model pointer %s is unreadable; serving %s, the last activated version "
                            "(%s); `stepstone activate` rewrites it", self.root / "current", backup, BACKUP)
            return backup
        return name

    def _report(self, message: str) -> None:
        if message != self._reported:  # a server re-checks every second: say it once
            log.error("%s", message)
            self._reported = message

    def _read_pointer(self, filename: str) -> str | None:
        try:
            raw = (self.root / filename).read_bytes()[:64]
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        try:
            name = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return None
        if not _VERSION.match(name) or not (self.versions_dir / name).is_dir():
            return None
        return name

    def current(self) -> str | None:
        """The live version: the pointer's (or its backup's), else the newest registered one.

        A damaged pointer then never stops a start-up, nor makes a read command train a model,
        while a usable version exists; ``stepstone activate`` rewrites it.
        """
        name = self.pointer()
        if name is not None:
            return name
        versions = self.versions()
        if versions and (self.root / "current").exists():
            log.warning("the model pointer %s is unreadable and has no backup; serving the newest version, %s",
                        self.root / "current", versions[-1])
        return versions[-1] if versions else None

    def load_live(self, serving: LoadedModel | None = None) -> LoadedModel:
        """The current version, loaded; when it fails verification, the version ``serving`` now,
        else the newest version that loads, with an error in the log naming both (never silently).

        A start-up with a corrupted current version then still serves; ``stepstone activate``
        chooses another.
        """
        current = self.current()
        try:
            return self.load(current)
        except (ModelCorrupted, NoModel) as exc:
            if current is None:
                raise
            failure = exc
        if serving is not None:
            self._report(f"model {current} (current) cannot be used: {failure}; still serving {serving.version}")
            return serving
        for version in reversed(self.versions()):
            if version == current:
                continue
            try:
                loaded = self.load(version)
            except StepstoneError:
                continue
            self._report(f"model {current} (current) cannot be used: {failure}; serving {version} instead until "
                         "`stepstone activate` chooses a version")
            return loaded
        raise failure

    def meta(self, version: str) -> dict[str, Any]:
        path = self.versions_dir / version / "meta.json"
        if not path.is_file():
            raise NoModel(f"no model version {version!r}; known: {', '.join(self.versions()) or 'none'}")
        try:
            return dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelCorrupted(f"model {version}: meta.json is not valid JSON ({exc})") from None

    def register(self, model: TransferRanker, meta: dict[str, Any], *, activate: bool = True,
                 extra_files: dict[str, bytes] | None = None) -> str:
        """Save a fitted model as the next version (atomically); optionally make it current.

        ``extra_files`` (name -> bytes, e.g. the interval calibration) are written beside the model
        and checksummed in ``meta.json`` like its own files.
        """
        with self._writing("registered"):
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.versions_dir))
        try:
            files = model.save(tmp)
            for name, data in (extra_files or {}).items():
                (tmp / name).write_bytes(data)
                files.append(name)
            full = {**meta, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "libraries": library_versions(), "feature_names": model.feature_names_,
                    "files": {f: _sha256(tmp / f) for f in files}}
            (tmp / "meta.json").write_text(json.dumps(full, indent=2, allow_nan=True))
            TransferRanker.load(tmp)  # our own LightGBM output parses here: no child process needed
            (tmp / VERIFIED_FILE).write_text(_sha256(tmp / "meta.json") + "\n", encoding="ascii")
            for f in [*files, "meta.json", VERIFIED_FILE]:
                with open(tmp / f, "rb") as fh:
                    os.fsync(fh.fileno())
            with self._locked():
                existing = self.versions()
                number = int(existing[-1][1:]) + 1 if existing else 1
                while True:
                    version = f"v{number:04d}"
                    try:
                        os.rename(tmp, self.versions_dir / version)  # fails if another writer took it
                        break
                    except OSError as exc:
                        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                            raise
                        number += 1
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise self._unwritable("registered", exc) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if activate:
            self.activate(version)
        return version

    def activate(self, version: str) -> None:
        """Point ``current`` at a version after verifying it (in a child process, once per version).

        Activations are serialised across processes by a lock file, and the pointer is replaced
        through a temporary file with a unique name, so concurrent activations end with the
        pointer naming one of them, never a mix or an error.
        """
        if not _VERSION.match(version):
            raise NoModel(f"no model version {version!r}; known: {', '.join(self.versions()) or 'none'}")
        self.load(version)  # checksums first, then the parse in a child process, then here
        with self._writing("activated"), self._locked():
            for name in ("current", BACKUP):  # the backup second: it never names a version not yet live
                fd, tmp = tempfile.mkstemp(prefix=".current.", suffix=".tmp", dir=self.root)
                try:
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(f"{version}\n".encode())
                        fh.flush()
                        os.fsync(fh.fileno())
                    os.replace(tmp, self.root / name)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[None]:
        """A full disk or a read-only home is a StoreUnavailable (503), never an OSError (500)."""
        try:
            yield
        except OSError as exc:
            raise self._unwritable(action, exc) from exc

    def _unwritable(self, action: str, exc: OSError) -> StoreUnavailable:
        why = "disk full" if exc.errno == errno.ENOSPC else exc.strerror or str(exc)
        return StoreUnavailable(f"the model registry {str(self.root)!r} cannot be written ({why}): no version "
                                f"was {action}; nothing was changed")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the registry across processes (``fcntl.flock`` on ``.lock``)."""
        with open(self.root / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def verify_isolated(self, version: str) -> None:
        """Load ``version`` in a child process first: a file that crashes LightGBM's parser (SIGABRT)
        kills the child, not this process. Done once per version: ``.verified`` records it,
        keyed by the checksum of its ``meta.json`` (which holds every file's checksum).
        """
        folder = self.versions_dir / version
        stamp = _sha256(folder / "meta.json")
        marker = folder / VERIFIED_FILE
        try:
            if marker.read_text(encoding="ascii").strip() == stamp:
                return
        except (OSError, UnicodeDecodeError):
            pass
        code = ("import sys\nfrom pathlib import Path\nfrom feature_store.errors import StepstoneError\n"
                "from recommender.model.registry import ModelRegistry\n"
                "try:\n    ModelRegistry(Path(sys.argv[1])).load(sys.argv[2], isolated=False)\n"
                "except StepstoneError as exc:\n    print(type(exc).__name__, exc, sep='\\t')\n    sys.exit(3)\n")
        proc = subprocess.run([sys.executable, "-c", code, str(self.root), version], capture_output=True,
                              text=True, check=False, timeout=300)
        if proc.returncode == 3:  # a stepstone error (incompatible, corrupted): raised here as it was there
            name, _, detail = proc.stdout.strip().partition("\t")
            cls = getattr(errors, name, None)
            raise (cls if isinstance(cls, type) and issubclass(cls, StepstoneError) else ModelCorrupted)(detail)
        if proc.returncode != 0:
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
            last = (proc.stderr.strip().splitlines() or [""])[-1][:300]
            raise ModelCorrupted(f"model {version}: failed to load in a verification process ({how}): {last}")
        with contextlib.suppress(OSError):
            marker.write_text(stamp + "\n", encoding="ascii")

    def load(self, version: str | None = None, *, isolated: bool = True) -> LoadedModel:
        """Load and verify a version (default: current).

        Checksums of the full file set first; then, unless ``isolated=False`` (the verifying
        child itself), the parse in a child process once per version (``verify_isolated``).
        """
        version = version or self.current()
        if version is None:
            raise NoModel("no model has been trained yet; run `stepstone retrain`")
        if not _VERSION.match(version):
            raise NoModel(f"no model version {version!r}; known: {', '.join(self.versions()) or 'none'}")
        meta = self.meta(version)
        folder = self.versions_dir / version
        listed = dict(meta.get("files", {}))
        present = {p.name for p in folder.iterdir() if p.is_file()} - UNLISTED_FILES
        missing_from_list = sorted((present | REQUIRED_FILES) - set(listed))
        if missing_from_list:
            raise ModelCorrupted(f"model {version}: meta.json does not list {', '.join(missing_from_list)}; "
                                 "refusing to load files without a checksum")
        for name, digest in listed.items():
            path = folder / name
            if not path.is_file():
                raise ModelCorrupted(f"model {version}: file {name} is missing")
            if _sha256(path) != digest:
                raise ModelCorrupted(f"model {version}: file {name} does not match its checksum; "
                                     "refusing to load it")
        if not meta.get("files"):
            raise ModelCorrupted(f"model {version}: meta.json lists no files")
        if isolated:
            self.verify_isolated(version)
        try:
            model = TransferRanker.load(folder)
            cal = None
            if CALIBRATION_FILE in meta["files"]:
                cal = Calibration.from_json((folder / CALIBRATION_FILE).read_text(encoding="utf-8"))
        except StepstoneError:
            raise
        except Exception as exc:  # LightGBM raises its own error types on unparsable files
            raise ModelCorrupted(f"model {version}: cannot be parsed ({exc})") from None
        return LoadedModel(version=version, model=model, meta=meta, calibration=cal)

    def evaluation(self, version: str) -> dict[str, Any] | None:
        """The evaluation summary stored beside a version, if any."""
        try:
            return dict(json.loads((self.versions_dir / version / EVALUATION_FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def write_evaluation(self, version: str, summary: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # informational: a full disk leaves the version without it
            atomic_write_bytes(self.versions_dir / version / EVALUATION_FILE,
                               json.dumps(summary, allow_nan=True).encode())

    def cleanup(self) -> None:
        """Remove temporary folders and pointer files left by a crashed register() or activate()."""
        for p in self.versions_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".current.*"):
            p.unlink(missing_ok=True)
