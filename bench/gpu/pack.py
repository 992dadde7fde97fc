"""Pack the me5-small matrix for a GPU machine that gets at most 64 MiB: the model as 4-bit blocks,
only the word-embedding rows the staged task data uses, and the task data, compressed.

    PYTHONPATH=. python bench/gpu/pack.py --config feature_store/data/matrices/me5_small_gpu.toml \
        [--config ...sizes.toml] --out .gpu

writes ``.gpu/me5-small.q4.npz`` (the model), ``.gpu/tasks.tar.xz`` (every file the matrices read,
under the data folder's own layout) and ``.gpu/pieces.npy`` (the kept rows). ``bench/gpu/unpack.py``
rebuilds the Hugging Face folder from the model pack on the GPU machine (numpy, torch, safetensors).

The model folder (``python ../shared/tools/me5_small_model.py models/me5-small``) holds the
dequantized values of the published 4-bit (Q4_0) copy: every block of 32 weights is (q - 8) * d
with an fp16 scale d and 4-bit q. This file recovers q and d from those values exactly (the
block's largest magnitude is q = 0, so d = -max / 8, as ggml's Q4_0 quantizer sets it) and checks
that the blocks dequantize back to the very same float32 values: the pack is the 4-bit model, not
another rounding of it. Rows of the word embeddings that no staged sentence tokenizes to are left
out (restored as zeros): no lookup reads them, so the rebuilt model's outputs on the staged data
are the full model's (``tests/test_gpu_pack.py`` checks it).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

QK = 32  # values per Q4_0 block
SPECIAL = 4  # <s> <pad> </s> <unk>: always kept
Q4_SUFFIXES = (
    "query.weight",
    "key.weight",
    "value.weight",
    "attention.output.dense.weight",
    "intermediate.dense.weight",
    "output.dense.weight",
    "word_embeddings.weight",
)


def quantize_exact(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 (d fp16 per 32 values, q 4-bit) of a matrix whose values are already Q4_0-dequantized.

    Raises ValueError if they are not: the blocks must give back exactly the same float32 values."""
    rows, cols = w.shape
    v = w.reshape(rows * (cols // QK), QK).astype(np.float32)
    at = np.abs(v).argmax(axis=1)
    m = v[np.arange(len(v)), at]
    d = (-m / 8).astype(np.float16)
    d32 = d.astype(np.float32)
    safe = np.where(d32 == 0, 1, d32)
    q = np.clip(np.rint(v / safe[:, None]) + 8, 0, 15).astype(np.uint8)
    q[d32 == 0] = 8
    back = (q.astype(np.int8) - 8) * d32[:, None]
    if not np.array_equal(back, v):
        bad = int((back != v).any(axis=1).sum())
        raise ValueError(f"{bad} of {len(v)} blocks are not Q4_0 values; this is not the dequantized 4-bit model")
    nibbles = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    return d, nibbles


def staged_files(configs: list[Path]) -> tuple[Path, dict[Path, str]]:
    """The data folder and every file the matrices read: English training and dev sets of every
    source and target task, and each target language's evaluation split (test, else dev)."""
    from trainer.config import load_matrix
    from trainer.data.files import find_files
    from trainer.data.tasks import canonical_id, known_task
    from trainer.matrix.graph import training_task

    files: dict[Path, str] = {}
    data: Path | None = None
    for path in configs:
        m = load_matrix(path)
        data = Path(m.data).resolve()
        tasks = {canonical_id(p) for s in m.source_tasks if s != "none" for p in s.split("+")}
        tasks |= {training_task(canonical_id(t)) for t in m.target_tasks}
        for task in tasks:
            fmt = known_task(task).format  # type: ignore[union-attr]
            for split in ("train", "dev"):
                files.update({p.resolve(): fmt for p in find_files(data, task, split, "eng")})
        for target in m.target_tasks:
            for lang in m.languages_for(target):
                found = find_files(data, target, "test", lang) or find_files(data, target, "dev", lang)
                if not found:
                    raise SystemExit(f"Error: no test or dev file of {target} in {lang!r} under {data}")
                files.update({p.resolve(): known_task(target).format for p in found})  # type: ignore[union-attr]
    assert data is not None
    return data, dict(sorted(files.items()))


def piece_ids(files: dict[Path, str], tokenizer_dir: Path) -> np.ndarray:
    """Every vocabulary row that the staged files' text tokenizes to (plus the special tokens)."""
    from transformers import AutoTokenizer

    from trainer.data.files import read_split

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    seen = np.zeros(tok.backend_tokenizer.get_vocab_size(), dtype=bool)
    seen[:SPECIAL] = True
    for path, fmt in files.items():
        split = read_split(path, fmt, "test")
        texts: list[str] = []
        for ex in split.examples:
            if "tokens" in ex:
                texts += [str(t) for t in ex["tokens"]]
                texts.append(" ".join(str(t) for t in ex["tokens"]))
            for key in ("text", "text_a", "text_b"):
                if isinstance(ex.get(key), str):
                    texts.append(ex[key])
        for k in range(0, len(texts), 4096):
            for ids in tok(texts[k : k + 4096], add_special_tokens=True)["input_ids"]:
                seen[ids] = True
    seen[tok.all_special_ids] = True
    return np.flatnonzero(seen).astype(np.int32)


def pack_model(model_dir: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    sd = load_file(str(model_dir / "model.safetensors"))
    out: dict[str, np.ndarray] = {}
    for name, w in sd.items():
        if name.endswith(Q4_SUFFIXES) and w.ndim == 2:
            if name.endswith("word_embeddings.weight"):
                out["rows"] = rows
                out["vocab"] = np.array(w.shape, dtype=np.int64)
                w = w[rows]
            d, nib = quantize_exact(w)
            out[f"q4:{name}:d"], out[f"q4:{name}:q"] = d, nib
            out[f"q4:{name}:shape"] = np.array(w.shape, dtype=np.int64)
        else:
            out[f"f32:{name}"] = w.astype(np.float32)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "PROVENANCE.md"):
        if (model_dir / name).exists():
            out[f"file:{name}"] = np.frombuffer((model_dir / name).read_bytes(), dtype=np.uint8)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, action="append", required=True)
    ap.add_argument("--model", type=Path, default=Path("models/me5-small"))
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    args = ap.parse_args()
    if not (args.model / "model.safetensors").exists():
        print(f"Error: no model.safetensors in {args.model}", file=sys.stderr)
        return 1
    data, files = staged_files(args.config)
    args.out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.out / "tasks.tar.xz", "w:xz", preset=9) as tar:
        for f in files:
            tar.add(f, arcname=str(f.relative_to(data)))
    rows = piece_ids(files, args.model)
    np.save(args.out / "pieces.npy", rows)
    packed = pack_model(args.model, rows)
    buf = io.BytesIO()
    np.savez_compressed(buf, **packed)
    (args.out / "me5-small.q4.npz").write_bytes(buf.getvalue())
    manifest = {
        "files": [str(f.relative_to(data)) for f in files],
        "rows_kept": int(len(rows)),
        "vocab": int(packed["vocab"][0]),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    sizes = {p.name: p.stat().st_size / 2**20 for p in args.out.iterdir() if p.is_file()}
    print(
        f"{len(files)} task files; {len(rows):,} of {manifest['vocab']:,} word-embedding rows kept; "
        + ", ".join(f"{k} {v:.1f} MiB" for k, v in sorted(sizes.items()))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
