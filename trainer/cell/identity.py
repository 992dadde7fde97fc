"""What makes two runs the same run: the model's content, the training configuration, the data.

- ``model_hash``: SHA-256 over the model folder's files (names and bytes), so two checkpoints in
  folders that are both called ``model/`` are two models, and a renamed folder is the same one.
  Hashing GBs takes seconds; the result is cached under ``$STEPSTONE_HOME/cache/model-hashes/``,
  keyed by the folder's path and its files' names, sizes and modification times.
- ``config_hash``: the knobs that change what a cell measures (the resolved recipe of each phase,
  the evaluation caps and split, the world size), not logging, checkpointing or batch sizes of
  prediction.
- ``data_hash``: the examples a phase actually trains on, by content (not path and line count).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from feature_store.paths import atomic_write_bytes, cache_dir
from trainer.config import TrainConfig, to_jsonable

HASH_CHARS = 16  # hex characters kept: 64 bits, plenty for telling models and configs apart

# TrainConfig fields that do not change the numbers a cell produces.
NOT_IN_CONFIG_HASH = frozenset(
    {
        "eval_batch_size",
        "save_steps",
        "save_minutes",
        "save_total_limit",
        "logging_steps",
        "dataloader_num_workers",
        "cache_features",
        "keep_models",
        "torch_compile",
        "attn_implementation",
        "cuda_graphs",  # the same arithmetic, replayed
        "embedding_update",  # enters as the resolved rule where it is sparse (trainer.cell.run.config_hash)
    }
)
_MEMO: dict[str, str] = {}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def model_hash(folder: Path) -> str:
    """Content hash of a model folder (every file: relative name and bytes)."""
    folder = Path(folder).resolve()
    files = _files(folder)
    stamp = [str(folder)] + [[str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    if key in _MEMO:
        return _MEMO[key]
    cache = cache_dir() / "model-hashes" / key
    try:
        _MEMO[key] = cache.read_text().strip()
        return _MEMO[key]
    except OSError:
        pass
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    value = digest.hexdigest()[:HASH_CHARS]
    _MEMO[key] = value
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, value.encode())
    except OSError:
        pass  # an unwritable home: the in-memory memo still saves the work within a process
    return value


def json_hash(obj: Any) -> str:
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def config_knobs(cfg: TrainConfig, table: str = "dense") -> dict[str, Any]:
    """The knobs that change the numbers; ``table`` is how the embedding table was updated
    (``trainer.cell.update.resolve_table``), named only where it is not the dense update that every
    run before the lazy one used, so that those runs keep their hash."""
    knobs = {k: v for k, v in to_jsonable(cfg).items() if k not in NOT_IN_CONFIG_HASH}
    if table == "sparse":
        knobs["embedding_update"] = "sparse"
    return knobs


def data_hash(examples: list[dict[str, Any]]) -> str:
    """Content hash of the examples a phase trains on (after sampling and label encoding)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps(ex, sort_keys=True, ensure_ascii=False, default=str).encode() + b"\n")
    return digest.hexdigest()[:HASH_CHARS]
