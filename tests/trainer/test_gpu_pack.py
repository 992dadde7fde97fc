"""The 4-bit pack that carries me5-small to a GPU machine: it rebuilds a model whose outputs on the
staged task data are the full model's (bench/gpu/pack.py, bench/gpu/unpack.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "me5-small"
DATA = ROOT.parent / "shared" / "data" / "tasks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"gpu_{name}", ROOT / "bench" / "gpu" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


pack, unpack = _load("pack"), _load("unpack")


def test_blocks_round_trip_and_other_values_are_refused() -> None:
    rng = np.random.default_rng(0)
    d = rng.uniform(0.001, 0.1, 40).astype(np.float16)
    q = rng.integers(0, 16, (40, 32)).astype(np.uint8)
    q[:, 0] = 0  # each block's largest magnitude is q = 0, as the Q4_0 quantizer sets it
    values = ((q.astype(np.int8) - 8) * d.astype(np.float32)[:, None]).reshape(20, 64)
    dd, nib = pack.quantize_exact(values)
    assert np.array_equal(unpack.dequantize(dd, nib, 20, 64), values)
    with pytest.raises(ValueError, match="not Q4_0 values"):
        pack.quantize_exact(rng.normal(size=(4, 64)).astype(np.float32))


@pytest.mark.skipif(not (MODEL / "model.safetensors").exists(),
                    reason="models/me5-small is not built (python ../shared/tools/me5_small_model.py models/me5-small)")
@pytest.mark.skipif(not DATA.is_dir(), reason="the staged task data (../shared/data/tasks) is not beside the tree")
def test_the_rebuilt_model_gives_the_full_models_outputs_on_staged_data(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from trainer.data.files import read_split

    files = {DATA / "udpos" / "UD_Yoruba-YTB" / "yo_ytb-ud-test.conllu": "tagging",
             DATA / "multilingual" / "sib200" / "amh_Ethi" / "test.tsv": "classification",
             DATA / "intermediate" / "rte" / "dev.tsv": "pair"}
    files = {p: f for p, f in files.items() if p.exists()}
    assert files, "none of the sample files is staged"
    rows = pack.piece_ids(files, MODEL)
    packed = pack.pack_model(MODEL, rows)
    np.savez_compressed(tmp_path / "pack.npz", **packed)
    rebuilt = unpack.unpack(tmp_path / "pack.npz", tmp_path / "me5-small")
    assert (rebuilt / "tokenizer.json").read_bytes() == (MODEL / "tokenizer.json").read_bytes()
    tok = AutoTokenizer.from_pretrained(str(MODEL))
    full, small = (AutoModel.from_pretrained(str(m)).eval() for m in (MODEL, rebuilt))
    kept = torch.from_numpy(rows.astype(np.int64))
    emb_full, emb_small = full.embeddings.word_embeddings.weight, small.embeddings.word_embeddings.weight
    assert torch.equal(emb_full[kept], emb_small[kept])  # the rows kept are the 4-bit values, bit for bit
    assert emb_small.abs().sum(1).count_nonzero() <= len(rows)  # the others are zeros
    texts = []
    for path, fmt in files.items():
        for ex in read_split(path, fmt, "test").examples[:6]:
            texts.append(" ".join(ex["tokens"]) if "tokens" in ex else ex.get("text") or ex["text_a"])
    batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    assert set(batch["input_ids"].unique().tolist()) <= set(rows.tolist())
    with torch.no_grad():
        a, b = full(**batch).last_hidden_state, small(**batch).last_hidden_state
    assert torch.equal(a, b)
