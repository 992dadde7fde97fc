"""Training throughput and MFU of an XLM-R-Large-shaped encoder, and the GPU-hours of the X-STILTs matrix.

Run:  .venv/bin/python bench/trainer_throughput.py [--steps 20] [--warmup 5] [--compile] [--cpu]

On a CUDA GPU it measures the real shape: XLMRobertaForSequenceClassification with 24 layers,
hidden 1024, 16 heads, FFN 4096, vocabulary 250,002, random init, at sequence length 128 and 256
(batches of 64 x 128 and 32 x 256 tokens). A step is what the trainer's phases do on a GPU:
bf16 autocast over fp32 master weights, SDPA attention, loss, backward, grad-norm clipping at 1.0,
fused AdamW. Batches are full-length random token ids (no padding), timed after warm-up steps
with ``torch.cuda.synchronize``. Without a GPU it runs a tiny shape (2 layers, hidden 128) on
the CPU, only to show that the script works; those figures say nothing about the GPU.

FLOPs per trained token, forward + backward (backward = 2 x forward):
  6 * N                   N = non-embedding parameters: every parameter except the word,
                          position and token-type embedding tables (a lookup does no matmul);
                          i.e. the 24 layers' Q/K/V/O and FFN matrices with their biases and
                          LayerNorms, plus the classification head. Each weight is one
                          multiply-add (2 FLOPs) per token forward, two more backward.
  + 12 * L * h * s        attention: Q K^T and the weighted sum A V are each s*h multiply-adds
                          per token per layer, 4*s*h FLOPs forward, x3 with backward.
  Not counted: softmax, GELU, LayerNorm and dropout elementwise work, embedding lookups, the
  optimizer step. MFU = tokens/s * FLOPs per token / 989e12 (H200 datasheet dense BF16, no
  sparsity).

The estimate: the full X-STILTs matrix on XLM-R Large = 9 intermediate tasks + the baseline,
each followed by the 7 XTREME targets that have English training data, 3 epochs per phase, one
seed. Phase 1 runs once per intermediate task (the trainer shares its encoder across targets);
phase 2 runs for every (source, target) cell. Training-set sizes come from the shipped
feature_store/data/intermediate_task_sizes.csv and xtreme_target_task_stats.csv; the mean
tokens per example are assumptions, listed in TOKENS below. The hours use the tokens/s measured
here on a GPU; without one they are a projection at the 40 % MFU goal, not a measurement.
"""

from __future__ import annotations

import argparse
import csv
import platform
import time
from pathlib import Path

import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

PEAK_BF16 = 989e12  # H200 SXM, dense BF16 tensor-core FLOP/s (datasheet)
DATA = Path(__file__).resolve().parents[1] / "feature_store" / "data"

LARGE = {
    "num_hidden_layers": 24,
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "vocab_size": 250_002,
}
TINY = {
    "num_hidden_layers": 2,
    "hidden_size": 128,
    "num_attention_heads": 2,
    "intermediate_size": 512,
    "vocab_size": 1_000,
}

# Assumed mean XLM-R SentencePiece tokens per model sequence (specials included) and sequences per
# example (multiple choice feeds one sequence per choice). Assumptions, not measurements.
TOKENS = {
    "MNLI": (48, 1),
    "ANLI+": (48, 1),
    "QQP": (32, 1),
    "SST-2": (16, 1),
    "SQuAD v1.1": (190, 1),
    "HellaSwag": (70, 4),
    "CosmosQA": (120, 4),
    "CommonsenseQA": (22, 5),
    "CCG": (32, 1),
    "XNLI": (48, 1),
    "PAWS-X": (60, 1),
    "POS": (24, 1),
    "NER": (14, 1),
    "XQuAD": (190, 1),
    "MLQA": (190, 1),
    "TyDiQA-GoldP": (160, 1),
}
CCG_ASSUMED_SIZE = 40_000  # not in the shipped data ("not found"); CCGbank's training sections are about this size
PADDING_EFFICIENCY = 0.9  # share of real tokens in length-grouped, dynamically padded batches (assumed)
EPOCHS = 3


def non_embedding_params(model: torch.nn.Module) -> int:
    tables = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight")
    return sum(p.numel() for name, p in model.named_parameters() if not name.endswith(tables))


def flops_per_token(n_params: int, layers: int, hidden: int, seq: int) -> float:
    return 6.0 * n_params + 12.0 * layers * hidden * seq


def make_config(shape: dict[str, int]) -> XLMRobertaConfig:
    return XLMRobertaConfig(
        **shape,
        max_position_embeddings=514,
        num_labels=3,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        attn_implementation="sdpa",
    )


def measure(
    shape: dict[str, int], seq: int, batch: int, steps: int, warmup: int, device: torch.device, compile_model: bool
) -> dict[str, float]:
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(make_config(shape)).to(device).train()
    n_params = non_embedding_params(model)
    gpu = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=gpu)
    step_model = torch.compile(model) if compile_model else model
    ids = torch.randint(5, shape["vocab_size"], (batch, seq), device=device)
    mask = torch.ones_like(ids)
    labels = torch.randint(0, 3, (batch,), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else torch.autocast("cpu", enabled=False)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            if gpu:
                torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast:
            loss = step_model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    tokens_per_s = steps * batch * seq / seconds
    flops = flops_per_token(n_params, shape["num_hidden_layers"], shape["hidden_size"], seq)
    return {
        "seq": seq,
        "batch": batch,
        "params": n_params,
        "tokens_per_s": tokens_per_s,
        "flops_per_token": flops,
        "tflops": tokens_per_s * flops / 1e12,
        "mfu": tokens_per_s * flops / PEAK_BF16 if gpu else float("nan"),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if gpu else float("nan"),
    }


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def training_sets() -> tuple[dict[str, int], dict[str, int]]:
    """(intermediate task -> train size, target task -> English train size) from the shipped CSVs."""
    with open(DATA / "intermediate_task_sizes.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    intermediate: dict[str, int] = {}
    for row in rows:
        name = row["intermediate_task"]
        if name == "SQuAD v2.0":
            continue  # X-STILTs' SQuAD is counted as v1.1 (see the CSV's note)
        if name.startswith("ANLI+"):
            # jiant's "full ANLI" = SNLI + MNLI + ANLI rounds 1-3 (the CSV's note: composition not verified)
            intermediate["ANLI+"] = intermediate.get("ANLI+", 0) + _count(row["num_examples"])
        elif name == "CCG":
            intermediate["CCG"] = _count(row["num_examples"]) if row["num_examples"] else CCG_ASSUMED_SIZE
        else:
            intermediate[name] = _count(row["num_examples"])
    intermediate["ANLI+"] += intermediate["MNLI"]
    with open(DATA / "xtreme_target_task_stats.csv", encoding="utf-8") as fh:
        targets = {row["target_task"]: _count(row["train"]) for row in csv.DictReader(fh) if row["train"] != "-"}
    return intermediate, targets


def matrix_estimate(rate: dict[int, float]) -> tuple[float, float, float]:
    """(phase-1 tokens, phase-2 tokens, GPU-hours) of the matrix at `rate` = tokens/s at seq 128 and 256."""
    intermediate, targets = training_sets()
    tokens1 = hours = tokens2 = 0.0
    for name, size in intermediate.items():
        per_seq, seqs = TOKENS[name]
        tokens = EPOCHS * size * per_seq * seqs
        tokens1 += tokens
        hours += tokens / (rate[128 if per_seq <= 128 else 256] * PADDING_EFFICIENCY) / 3600
    sources = len(intermediate) + 1  # + the baseline cell
    for name, size in targets.items():
        per_seq, seqs = TOKENS[name]
        tokens = sources * EPOCHS * size * per_seq * seqs
        tokens2 += tokens
        hours += tokens / (rate[128 if per_seq <= 128 else 256] * PADDING_EFFICIENCY) / 3600
    return tokens1, tokens2, hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on GPU, 1 on CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--cpu", action="store_true", help="the tiny CPU run even when a GPU is there")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if gpu else "cpu")
    shape, batches = (LARGE, {128: 64, 256: 32}) if gpu else (TINY, {128: 4, 256: 2})
    steps = args.steps or (20 if gpu else 3)
    warmup = args.warmup or (5 if gpu else 1)
    name = torch.cuda.get_device_name() if gpu else f"CPU ({platform.processor() or platform.machine()})"
    print(
        f"device: {name}; torch {torch.__version__}; shape: {'XLM-R Large' if gpu else 'tiny (CPU demo)'} "
        f"{shape}; {'bf16 autocast' if gpu else 'fp32'}; {steps} timed steps after {warmup}"
    )
    print(
        f"{'seq':>4} {'batch':>5} {'non-emb params':>15} {'GFLOP/token':>11} {'tokens/s':>10} "
        f"{'TFLOP/s':>8} {'MFU':>6} {'peak GiB':>8}"
    )
    measured = {}
    for seq, batch in batches.items():
        r = measure(shape, seq, batch, steps, warmup, device, args.compile)
        measured[seq] = r["tokens_per_s"]
        mfu, peak = (f"{r['mfu']:.1%}", f"{r['peak_gib']:.1f}") if gpu else ("-", "-")
        print(
            f"{seq:>4} {batch:>5} {r['params']:>15,} {r['flops_per_token'] / 1e9:>11.3f} "
            f"{r['tokens_per_s']:>10,.0f} {r['tflops']:>8.3f} {mfu:>6} {peak:>8}"
        )

    with torch.device("meta"):
        n_large = non_embedding_params(XLMRobertaForSequenceClassification(make_config(LARGE)))
    if gpu:
        rate, how = measured, "measured tokens/s above"
    else:
        rate = {s: 0.40 * PEAK_BF16 / flops_per_token(n_large, 24, 1024, s) for s in (128, 256)}
        how = "no GPU: PROJECTION at the 40 % MFU goal on one H200, not a measurement"
    tokens1, tokens2, hours = matrix_estimate(rate)
    intermediate, targets = training_sets()
    print(f"\nX-STILTs matrix, XLM-R Large ({n_large:,} non-embedding params), {EPOCHS} epochs, one seed:")
    print(
        f"  phase 1: {len(intermediate)} intermediate tasks once each, "
        f"{sum(intermediate.values()):,} examples -> {tokens1 / 1e9:.2f} B tokens"
    )
    print(
        f"  phase 2: ({len(intermediate)} + baseline) x {len(targets)} targets "
        f"({sum(targets.values()):,} English examples) -> {tokens2 / 1e9:.2f} B tokens"
    )
    print(
        f"  total {(tokens1 + tokens2) / 1e9:.2f} B training tokens; assumed tokens/example: "
        + ", ".join(f"{k} {v[0] * v[1]}" for k, v in TOKENS.items())
        + f"; CCG size assumed {CCG_ASSUMED_SIZE:,}; padding efficiency {PADDING_EFFICIENCY:.0%}"
    )
    print(f"  tokens/s used: {rate[128]:,.0f} (seq <= 128), {rate[256]:,.0f} (longer) [{how}]")
    print(f"  estimated H200 GPU-hours: {hours:.1f} (evaluation not included)")
    per_seq, _ = TOKENS["MLQA"]
    shared = (len(intermediate) + 1) * EPOCHS * targets["MLQA"] * per_seq
    print(
        f"  XQuAD and MLQA fine-tune on the same SQuAD v1.1 data; one shared phase 2 would save "
        f"{shared / 1e9:.2f} B tokens ({shared / (rate[256] * PADDING_EFFICIENCY) / 3600:.1f} h)"
    )


if __name__ == "__main__":
    main()
