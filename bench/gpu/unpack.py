"""Rebuild the me5-small Hugging Face folder from its 4-bit pack (``bench/gpu/pack.py``).

    python bench/gpu/unpack.py .gpu/me5-small.q4.npz models/me5-small

Needs numpy and safetensors only (the GPU image has both). Every 4-bit block is dequantized as
the published model's loader does ((q - 8) * d, fp16 d); the word-embedding rows the pack left out
are zeros. The folder's other files (config, tokenizer) are restored byte for byte.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def dequantize(d: np.ndarray, nibbles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    lo = (nibbles & 0x0F).astype(np.int8) - 8
    hi = (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=1) * d.astype(np.float32)[:, None]).reshape(rows, cols)


def state_dict(pack: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sd: dict[str, np.ndarray] = {}
    for key in pack:
        kind, _, rest = key.partition(":")
        if kind == "f32":
            sd[rest] = np.ascontiguousarray(pack[key], dtype=np.float32)
        elif kind == "q4" and key.endswith(":shape"):
            name = rest.rsplit(":", 1)[0]
            rows, cols = (int(x) for x in pack[key])
            w = dequantize(pack[f"q4:{name}:d"], pack[f"q4:{name}:q"], rows, cols)
            if name.endswith("word_embeddings.weight"):
                full = np.zeros(tuple(int(x) for x in pack["vocab"]), dtype=np.float32)
                full[pack["rows"]] = w
                w = full
            sd[name] = np.ascontiguousarray(w)
    return sd


def unpack(pack_path: Path, out: Path) -> Path:
    from safetensors.numpy import save_file

    with np.load(pack_path) as z:
        pack = {k: z[k] for k in z.files}
    out.mkdir(parents=True, exist_ok=True)
    save_file(state_dict(pack), str(out / "model.safetensors"))
    for key, value in pack.items():
        if key.startswith("file:"):
            (out / key[5:]).write_bytes(value.tobytes())
    return out


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 1
    pack, out = Path(sys.argv[1]), Path(sys.argv[2])
    if not pack.is_file():
        print(f"Error: no pack at {pack}", file=sys.stderr)
        return 1
    unpack(pack, out)
    print(f"rebuilt {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
