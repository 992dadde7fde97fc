"""The loop users run, timed: the trainer's phase loop next to a minimal PyTorch loop (and, on a GPU,
the synthetic step of ``bench/trainer_throughput.py``) on the same model, data, batch and lengths.

Real data on a CPU (the done-criterion of the trainer's speed):

    python bench/trainer_loop.py --model models/me5-small --data ../shared/data/tasks \\
        --task udpos --samples 600 --epochs 1 --batch 32 [--embeddings trained|frozen] [--profile]

Random-init shapes built from a config, no weights (what a GPU check runs):

    python bench/trainer_loop.py --shape xlmr-large --workload nli|qa|tagging [--steps 60] [--profile]

Prints tokens/s (real, non-padding tokens), updates/s, TFLOP/s and MFU (GPU: against 989 TFLOP/s
dense BF16) for each loop, the trainer's ratio to the minimal loop, and with ``--profile`` the top
operations: cProfile's on a CPU, torch.profiler's on a GPU with the share of each update spent
outside GPU kernels. ``--trainer-root DIR`` times the trainer of another checkout (e.g. the commit
before a change) with this same script; ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import platform
import pstats
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _argv() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, help="a local model folder (real weights and tokenizer)")
    p.add_argument("--data", type=Path, help="the task data folder")
    p.add_argument("--task", default="udpos")
    p.add_argument("--language", default="eng")
    p.add_argument("--samples", type=int, default=600, help="training examples (a seeded sample)")
    p.add_argument("--shape", choices=("xlmr-large", "me5-small", "tiny"), help="random init from a config")
    p.add_argument("--workload", choices=("nli", "qa", "tagging"), default="nli")
    p.add_argument("--steps", type=int, default=60, help="updates of a --shape run")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=None, help="global batch (default: 32, QA 16)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--embeddings", choices=("trained", "frozen"), default="trained")
    p.add_argument("--table", default=None, help="the trainer's embedding_update knob (auto|dense|sparse)")
    p.add_argument("--no-graphs", action="store_true", help="the trainer without CUDA graphs (cuda_graphs = false)")
    p.add_argument("--loops", default="trainer,minimal", help="comma list of trainer, minimal, minimal-sparse")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--trainer-root", type=Path, default=None, help="import the trainer from this checkout")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args()


def _train_config(args: argparse.Namespace, batch: int) -> Any:
    from trainer.config import TrainConfig

    knobs: dict[str, Any] = dict(epochs=args.epochs, batch_size=batch, learning_rate=args.lr, dev_selection=False,
                                 freeze_embeddings=args.embeddings == "frozen", use_cpu=args.cpu, save_minutes=0.0,
                                 save_steps=10**9, logging_steps=10**9, max_train_samples=args.samples)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    if args.table is not None and "embedding_update" in names:
        knobs["embedding_update"] = args.table
    if args.no_graphs:
        knobs["cuda_graphs"] = False
    return TrainConfig(**{k: v for k, v in knobs.items() if k in names})


def _real(args: argparse.Namespace, gpu: bool) -> tuple[Any, list[dict[str, Any]], str, Any, Any]:
    """(model factory, features, format, tokenizer, train config) of a real model on real data."""
    import loop_parts
    from transformers import AutoTokenizer

    from trainer.config import CellConfig

    steps = loop_parts.module("trainer.cell.steps", "trainer.plan")
    m = loop_parts.trainer_modules()
    task = steps.resolve_task(args.task, args.data)
    batch = args.batch or (16 if task.format == "qa" else 32)
    train = _train_config(args, batch)
    cell = CellConfig(model=args.model, data=args.data, target_task=args.task, languages=["eng"], seed=args.seed,
                      train=train)
    tset = steps.load_training_set(cell, task, args.language)
    tokenizer = AutoTokenizer.from_pretrained(str(args.model))
    features = m["tokens"].encode(tset.split.examples, task.format, tokenizer, train, train=True).features

    def make_model() -> Any:
        import torch

        torch.manual_seed(args.seed)
        model = m["model"].load_head_model(args.model, task.format, tset.task.labels, "sdpa")
        if train.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        return model

    return make_model, features, task.format, tokenizer, train


def _synthetic(args: argparse.Namespace, gpu: bool) -> tuple[Any, list[dict[str, Any]], str, Any, Any]:
    """A random-init shape with features of the workload's lengths (no weights, no tokenizer)."""
    import shapes

    fmt, batch, features = shapes.features(args.shape, args.workload, args.steps, args.batch, random.Random(0))
    train = _train_config(args, batch)
    train = dataclasses.replace(train, max_train_samples=None)

    def make_model() -> Any:
        import torch

        torch.manual_seed(args.seed)
        model = shapes.model(args.shape, fmt, "cuda" if gpu else "cpu")
        if train.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        return model

    return make_model, features, fmt, shapes.Pad(), train


def _profiled(run: Any, gpu: bool, profile: bool) -> tuple[Any, str]:
    if not profile:
        return run(), ""
    if not gpu:
        prof = cProfile.Profile()
        result = prof.runcall(run)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(20)
        return result, text.getvalue()
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        result = run()
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
    events = prof.key_averages()
    kernel_s = sum(e.self_device_time_total for e in events if e.device_type.name == "CUDA") / 1e6
    try:
        table = events.table(sort_by="self_device_time_total", row_limit=15)
    except (AttributeError, KeyError, ValueError):
        table = events.table(sort_by="self_cuda_time_total", row_limit=15)
    updates = max(1, int(result["updates"]))
    result["outside_kernels"] = share = 1.0 - kernel_s / wall
    per = f"per update: {wall / updates * 1e3:.1f} ms wall, {kernel_s / updates * 1e3:.1f} ms in GPU kernels"
    return result, f"{table}\n{per}; {share:.1%} of the time outside kernels (host gaps, launches, syncs)\n"


def main() -> None:
    args = _argv()
    if args.trainer_root is not None:
        sys.path.insert(0, str(args.trainer_root.resolve()))
    else:
        sys.path.insert(0, str(ROOT))
    sys.path.insert(1, str(ROOT / "bench"))
    import loop_parts
    import torch

    gpu = torch.cuda.is_available() and not args.cpu
    device = torch.device("cuda" if gpu else "cpu")
    make_model, features, fmt, tokenizer, train = (_synthetic if args.shape else _real)(args, gpu)
    name = torch.cuda.get_device_name() if gpu else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    import trainer

    print(f"device: {name}; torch {torch.__version__}; trainer from {Path(trainer.__file__).parent.parent}")
    what = args.shape or args.model
    print(f"model: {what}; {fmt}; {len(features)} features, {loop_parts.tokens_of(features):,} tokens; "
          f"batch {train.batch_size}; epochs {train.epochs}; embeddings {args.embeddings}")
    print(f"{'loop':>16} {'tokens/s':>10} {'updates/s':>9} {'TFLOP/s':>8} {'MFU':>6} {'seconds':>8} "
          f"{'tokens/CPU-s':>12}")
    results: dict[str, Any] = {"device": name, "model": str(what), "format": fmt, "batch": train.batch_size}
    for which in args.loops.split(","):
        if which == "trainer":
            run = lambda: loop_parts.run_trainer(make_model, features, fmt, tokenizer, train, args.seed, gpu)[0]  # noqa: E731
        elif which.startswith("minimal"):
            pad_id = getattr(tokenizer, "pad_token_id", 1)
            sparse = which == "minimal-sparse"
            run = lambda pad_id=pad_id, sparse=sparse: loop_parts.run_minimal(  # noqa: E731
                make_model, features, pad_id, train, args.seed, device, sparse_table=sparse)
        elif which == "synthetic":
            import shapes

            run = lambda: shapes.synthetic_step(make_model, features, train.batch_size, device)  # noqa: E731
        else:
            raise SystemExit(f"unknown loop {which!r}")
        r, text = _profiled(run, gpu, args.profile)
        results[which if which not in results else f"{which}#{len(results)}"] = r
        mfu = f"{r['mfu']:.1%}" if gpu else "-"
        failed = f"; {r['failed']}" if r.get("failed") else ""
        graphs = f"  (CUDA graphs: {r['graphs']}, captured in {r['capture_s']} s{failed})" if "graphs" in r else ""
        print(f"{which:>16} {r['tokens_per_s']:>10,.0f} {r['updates_per_s']:>9.2f} {r['tflops']:>8.3f} {mfu:>6} "
              f"{r['seconds']:>8.1f} {r['tokens_per_cpu_s']:>12,.0f}{graphs}", flush=True)
        if text:
            print(text, flush=True)
    for ref in ("minimal", "minimal-sparse"):
        if "trainer" in results and ref in results:
            wall = results["trainer"]["tokens_per_s"] / results[ref]["tokens_per_s"]
            cpu = results["trainer"]["tokens_per_cpu_s"] / results[ref]["tokens_per_cpu_s"]
            results[f"trainer_over_{ref}"] = {"wall": wall, "cpu": cpu}
            print(f"trainer / {ref} loop: {wall:.2f}x in wall time, {cpu:.2f}x per CPU-second")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=float) + "\n")


if __name__ == "__main__":
    main()
