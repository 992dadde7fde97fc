"""Training throughput and MFU of an XLM-R-Large-shaped encoder, and the wall time of the X-STILTs matrix.

Run:  .venv/bin/python bench/trainer_throughput.py [--steps 20] [--warmup 5] [--compile both|on|off]
                                                   [--packed 4] [--tiny] [--json OUT.json]

The model is XLM-R Large's shape built from a config (no download): 24 layers, hidden 1024, 16 heads,
FFN 4096, vocabulary 250,002, random init; ``--tiny`` builds 2 layers, hidden 128 instead, to show
on a CPU that the script runs (those figures say nothing about a GPU). A step is what the
trainer's phases do on a GPU: bf16 autocast over fp32 master weights, SDPA attention, loss,
backward, grad-norm clipping at 1.0, fused AdamW; timed after warm-up steps with
``torch.cuda.synchronize``. Two workloads, as the trainer pads them (dynamic padding to the longest
example of the batch, rounded up to a multiple of 8):

  nli  sentence pairs, 32 per batch, lengths drawn around XNLI/MNLI's mean of 48 tokens (max 128)
       under length grouping (each batch drawn from a narrow length band);
  qa   SQuAD windows, 16 per batch, 384 tokens with the last window of a context shorter.

FLOPs per trained (non-padding) token, forward + backward (backward = 2 x forward):
  6 * N                  N = non-embedding parameters: every parameter except the word, position
                         and token-type embedding tables (a lookup does no matmul).
  + 12 * L * h * s       attention: Q K^T and A V, each s*h multiply-adds per token per layer,
                         with s the example's own length (padding is not useful work).
  Not counted: softmax, GELU, LayerNorm, dropout, embedding lookups, the optimizer step.
  MFU = FLOPs/s / 989e12 (H200 SXM datasheet, dense BF16, no sparsity).

``--packed K`` also runs K training processes on the one GPU at once (as Ray packs jobs with
``num_gpus = 1/K``) and reports their summed tokens/s. The matrix estimate then takes the training
tokens of every job of the full X-STILTs graph (``trainer.matrix.graph``: phase 1 once per source, phase 2
once per encoder and English training set, so XQuAD and MLQA share theirs) and divides them by the
measured rate, one cell per GPU and K packed cells per GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.config import MatrixConfig, TrainConfig  # noqa: E402
from trainer.matrix import estimate  # noqa: E402
from trainer.matrix.graph import build_graph  # noqa: E402

PEAK_BF16 = 989e12  # H200 SXM, dense BF16 tensor-core FLOP/s (datasheet)

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
# workload -> (batch size, max length, mean length); QA windows are full but for the last of a context
WORKLOADS = {"nli": (32, 128, 48), "qa": (16, 384, 384)}
TINY_WORKLOADS = {"nli": (4, 128, 48), "qa": (2, 384, 384)}

XSTILTS_SOURCES = ["none", "anli", "mnli", "qqp", "squad", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "sst2"]
XSTILTS_TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"]


def non_embedding_params(model: torch.nn.Module) -> int:
    tables = ("word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight")
    return sum(p.numel() for name, p in model.named_parameters() if not name.endswith(tables))


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


def lengths(workload: str, batch: int, max_len: int, mean: int, rng: random.Random) -> list[int]:
    """One length-grouped batch: NLI lengths from a narrow band around a drawn centre; QA windows full
    but for one shorter last window."""
    if workload == "qa":
        return [max_len] * (batch - 1) + [rng.randint(max_len // 3, max_len)]
    centre = min(max_len, max(8, int(rng.expovariate(1 / mean))))
    return [min(max_len, max(6, centre + rng.randint(-4, 4))) for _ in range(batch)]


def make_batches(workload: str, shape: dict[str, int], sizes: tuple[int, int, int], n: int, device: torch.device):
    batch, max_len, mean = sizes
    rng = random.Random(0)
    out = []
    for _ in range(n):
        lens = lengths(workload, batch, max_len, mean, rng)
        padded = min(max_len, -(-max(lens) // 8) * 8)
        ids = torch.full((batch, padded), 1, dtype=torch.long)
        mask = torch.zeros((batch, padded), dtype=torch.long)
        for i, n_tok in enumerate(lens):
            ids[i, :n_tok] = torch.randint(5, shape["vocab_size"], (n_tok,))
            mask[i, :n_tok] = 1
        labels = torch.randint(0, 3, (batch,))
        out.append((ids.to(device), mask.to(device), labels.to(device), lens))
    return out


def measure(
    shape: dict[str, int],
    workload: str,
    sizes: tuple[int, int, int],
    steps: int,
    warmup: int,
    device: torch.device,
    compile_model: bool,
) -> dict[str, float]:
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(make_config(shape)).to(device).train()
    n_params = non_embedding_params(model)
    gpu = device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01, fused=gpu)
    step_model = torch.compile(model, dynamic=True) if compile_model else model
    batches = make_batches(workload, shape, sizes, warmup + steps, device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if gpu else torch.autocast("cpu", enabled=False)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    start = 0.0
    real = padded = flops = 0.0
    layers, hidden = shape["num_hidden_layers"], shape["hidden_size"]
    for step, (ids, mask, labels, lens) in enumerate(batches):
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
        if step >= warmup:
            real += sum(lens)
            padded += ids.numel()
            flops += sum(6.0 * n_params * s + 12.0 * layers * hidden * s * s for s in lens)
    if gpu:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "params": n_params,
        "tokens_per_s": real / seconds,
        "padding": 1 - real / padded,
        "tflops": flops / seconds / 1e12,
        "mfu": flops / seconds / PEAK_BF16 if gpu else float("nan"),
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if gpu else float("nan"),
    }


def _packed_worker(rank: int, args: tuple[Any, ...], barrier: Any, results: dict[int, Any]) -> None:
    shape, workload, sizes, steps, warmup, device_type, compile_model = args
    if device_type == "cpu":
        torch.set_num_threads(1)
    barrier.wait()  # all K start together, so their steps overlap
    results[rank] = measure(shape, workload, sizes, steps, warmup, torch.device(device_type), compile_model)


def measure_packed(k: int, *args: object) -> float:
    """Summed tokens/s of k training processes sharing the device."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        results = manager.dict()
        barrier = ctx.Barrier(k)
        procs = [ctx.Process(target=_packed_worker, args=(r, args, barrier, results)) for r in range(k)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        if len(results) != k:
            raise RuntimeError(f"only {len(results)} of {k} packed processes finished")
        return sum(r["tokens_per_s"] for r in results.values())


def matrix_tokens() -> tuple[int, dict[str, float]]:
    """(jobs, training tokens by workload) of the full X-STILTs matrix, one seed, from the job graph.

    A job counts as ``qa`` when one of its tasks has sequences longer than 128 tokens, else ``nli``."""
    matrix = MatrixConfig(
        data=Path("data"),
        models=[Path("xlm-roberta-large")],
        source_tasks=XSTILTS_SOURCES,
        target_tasks=XSTILTS_TARGETS,
        languages=["swa"],
        train=TrainConfig(epochs=3),
    )
    rate = 1.0 / estimate.PADDING_EFFICIENCY  # so that a job's "hours" x 3600 are its tokens
    jobs = build_graph(matrix, rate)
    tokens = {"nli": 0.0, "qa": 0.0}
    for job in jobs:
        tasks = job.source_task.split("+") if job.phase == 1 else [job.target_task or ""]
        long = any(estimate.TASKS.get(t, ("", 0, 0))[1] > 128 for t in tasks)
        tokens["qa" if long else "nli"] += (job.estimated_gpu_hours or 0.0) * 3600
    return len(jobs), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on GPU, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 on GPU, 1 on CPU)")
    parser.add_argument("--compile", choices=("both", "on", "off"), default=None, help="torch.compile (GPU: both)")
    parser.add_argument("--packed", type=int, default=4, help="also run K training processes at once (0: skip)")
    parser.add_argument("--tiny", action="store_true", help="the tiny shape (and the CPU when there is no GPU)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is there")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args()
    gpu = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if gpu else "cpu")
    tiny = args.tiny or not gpu
    shape, workloads = (TINY, TINY_WORKLOADS) if tiny else (LARGE, WORKLOADS)
    steps = args.steps or (20 if gpu else 3)
    warmup = args.warmup or (5 if gpu else 1)
    compiles = {"both": [False, True], "on": [True], "off": [False]}[args.compile or ("both" if gpu else "off")]
    name = torch.cuda.get_device_name() if gpu else f"CPU ({platform.processor() or platform.machine()})"
    print(
        f"device: {name}; torch {torch.__version__}; shape: {'tiny' if tiny else 'XLM-R Large'} {shape}; "
        f"{'bf16 autocast' if gpu else 'fp32'}; {steps} timed steps after {warmup}"
    )
    print(
        f"{'workload':>8} {'compile':>7} {'batch':>5} {'padding':>7} {'tokens/s':>10} {'TFLOP/s':>8} "
        f"{'MFU':>6} {'peak GiB':>8}"
    )
    figures: dict[str, object] = {"device": name, "torch": torch.__version__, "shape": shape, "runs": []}
    best: dict[str, float] = {}
    for workload, sizes in workloads.items():
        for compiled in compiles:
            r = measure(shape, workload, sizes, steps, warmup, device, compiled)
            best[workload] = max(best.get(workload, 0.0), r["tokens_per_s"])
            figures["runs"].append({"workload": workload, "compile": compiled, **r})  # type: ignore[attr-defined]
            mfu, peak = (f"{r['mfu']:.1%}", f"{r['peak_gib']:.1f}") if gpu else ("-", "-")
            print(
                f"{workload:>8} {'yes' if compiled else 'no':>7} {sizes[0]:>5} {r['padding']:>7.1%} "
                f"{r['tokens_per_s']:>10,.0f} {r['tflops']:>8.3f} {mfu:>6} {peak:>8}"
            )
    packed: dict[str, float] = {}
    if args.packed > 1:
        compiled = compiles[-1]
        for w in workloads:
            packed[w] = measure_packed(args.packed, shape, w, workloads[w], steps, warmup, device.type, compiled)
        figures["packed"] = {"k": args.packed, "compile": compiled, **packed}
        print(
            f"{args.packed} packed processes, summed tokens/s: "
            + ", ".join(f"{w} {v:,.0f} ({v / best[w]:.2f}x one)" for w, v in packed.items())
        )
    n_jobs, tokens = matrix_tokens()
    total = sum(tokens.values())
    print(
        f"\nX-STILTs matrix (10 sources x 9 targets, one seed, 3 epochs): {n_jobs} jobs, {total / 1e9:.2f} B "
        f"training tokens ({tokens['qa'] / 1e9:.2f} B in QA-length jobs)"
    )
    how = "from the rates measured above" if gpu and not tiny else "tiny/CPU figures: NOT an H200 estimate"
    hours1 = sum(tokens[w] / best[w] for w in tokens) / 3600
    print(f"  1 cell per GPU:  {hours1:,.1f} GPU-hours ({how})")
    figures["matrix"] = {"jobs": n_jobs, "tokens": tokens, "hours_1": hours1}
    if packed:
        hours_k = sum(tokens[w] / packed[w] for w in tokens) / 3600
        figures["matrix"]["hours_packed"] = hours_k  # type: ignore[index]
        print(f"  {args.packed} cells per GPU: {hours_k:,.1f} GPU-hours ({how})")
    print("  evaluation not included; the measured tokens/s count real tokens, so padding is already in them")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
