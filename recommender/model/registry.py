"""The model registry: versioned folders of LightGBM text models + ``meta.json``.

Layout under ``$STEPSTONE_HOME/models``::

    versions/v0001/ ranker.txt gain.txt prior.json params.json meta.json
    current          a one-line file naming the live version, replaced atomically

A version is written into a temporary folder and renamed into place in one step, so a crash
leaves either no version or a whole one; ``current`` is only switched after that. Every file's
SHA-256 is in ``meta.json`` and checked on load: a tampered file is refused, never half-used.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feature_store.errors import ModelCorrupted, NoModel, StepstoneError
from feature_store.paths import atomic_write_bytes, models_dir
from recommender.model.calibration import Calibration
from recommender.model.ranker import TransferRanker

CALIBRATION_FILE = "calibration.json"  # checksummed with the model: part of the version
EVALUATION_FILE = "evaluation.json"  # informational, written after registration: not checksummed

_VERSION = re.compile(r"^v(\d{4,})$")


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

    def versions(self) -> list[str]:
        names = [p.name for p in self.versions_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    def current(self) -> str | None:
        try:
            name = (self.root / "current").read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

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
            for f in [*files, "meta.json"]:
                with open(tmp / f, "rb") as fh:
                    os.fsync(fh.fileno())
            existing = self.versions()
            number = int(existing[-1][1:]) + 1 if existing else 1
            while True:
                version = f"v{number:04d}"
                try:
                    os.rename(tmp, self.versions_dir / version)  # fails if another writer took it
                    break
                except OSError:
                    number += 1
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if activate:
            self.activate(version)
        return version

    def activate(self, version: str) -> None:
        """Point ``current`` at a version after verifying it loads."""
        self.load(version)
        atomic_write_bytes(self.root / "current", f"{version}\n".encode())

    def load(self, version: str | None = None) -> LoadedModel:
        """Load and verify a version (default: current)."""
        version = version or self.current()
        if version is None:
            raise NoModel("no model has been trained yet; run `stepstone retrain`")
        meta = self.meta(version)
        folder = self.versions_dir / version
        for name, digest in dict(meta.get("files", {})).items():
            path = folder / name
            if not path.is_file():
                raise ModelCorrupted(f"model {version}: file {name} is missing")
            if _sha256(path) != digest:
                raise ModelCorrupted(f"model {version}: file {name} does not match its checksum; "
                                     "refusing to load it")
        if not meta.get("files"):
            raise ModelCorrupted(f"model {version}: meta.json lists no files")
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
        atomic_write_bytes(self.versions_dir / version / EVALUATION_FILE,
                           json.dumps(summary, allow_nan=True).encode())

    def cleanup(self) -> None:
        """Remove temporary folders left by a crashed register()."""
        for p in self.versions_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
