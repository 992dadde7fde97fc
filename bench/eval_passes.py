"""Phase 3's zero-shot evaluation timed two ways on the same model and data: one prediction pass per
language (as the trainer did) and languages predicted together (``trainer.cell.evaluate.evaluate_splits``).

    python bench/eval_passes.py --model models/me5-small --data ../shared/data/tasks \\
        [--task udpos] [--languages spa,fra,...] [--samples 200] [--rounds 2] [--batch 256]

The model is the folder's encoder with a fresh tagging head (speed does not depend on its weights).
Rounds alternate the two ways so that a shared machine's noise falls on both; prints sentences/s
of each way per round, the ratio, and checks that both give the same scores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = "spa,fra,rus,ell,hau,heb,bxr,tam,tur,jpn,kaz,tel"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--task", default="udpos")
    p.add_argument("--languages", default=LANGUAGES)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch", type=int, default=256)
    a = p.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, TrainingArguments

    from trainer.cell.evaluate import evaluate_split, evaluate_splits
    from trainer.cell.loop import CellTrainer
    from trainer.cell.tokens import collator
    from trainer.config import TrainConfig
    from trainer.data.files import encode_labels, eval_cap, find_files, read_files

    splits = {}
    for lang in a.languages.split(","):
        paths = find_files(a.data, a.task, "test", lang)
        if not paths:
            raise SystemExit(f"Error: no {a.task} test data for {lang!r} under {a.data}")
        splits[lang] = eval_cap(read_files(paths, "tagging", "test"), a.samples)
    labels = tuple(sorted({t for s in splits.values() for ex in s.examples for t in ex["tags"]}))
    for s in splits.values():
        encode_labels(s, "tagging", labels)
    torch.manual_seed(0)
    cfg = TrainConfig(eval_batch_size=a.batch, use_cpu=not torch.cuda.is_available())
    tokenizer = AutoTokenizer.from_pretrained(str(a.model))
    model = AutoModelForTokenClassification.from_pretrained(str(a.model), num_labels=len(labels))
    args = TrainingArguments(output_dir="/tmp/eval-passes", per_device_eval_batch_size=a.batch,
                             use_cpu=cfg.use_cpu, report_to=[], disable_tqdm=True)
    trainer = CellTrainer(model=model, args=args, data_collator=collator("tagging", tokenizer, not cfg.use_cpu))
    n = sum(len(s.examples) for s in splits.values())
    print(f"{a.task}: {len(splits)} languages, {n} sentences, batch {a.batch}, "
          f"{'GPU' if not cfg.use_cpu else f'CPU, {torch.get_num_threads()} threads'}")
    ratios = []
    for r in range(1, a.rounds + 1):
        t = time.perf_counter()
        each = {lang: evaluate_split(trainer, s, "tagging", labels, tokenizer, cfg, task_id=a.task, language=lang)
                for lang, s in splits.items()}
        t_each = time.perf_counter() - t
        t = time.perf_counter()
        together = evaluate_splits(trainer, splits, "tagging", labels, tokenizer, cfg, task_id=a.task)
        t_together = time.perf_counter() - t
        same = all(abs(each[g]["f1"] - together[g]["f1"]) < 1e-6 for g in splits)
        ratios.append(t_each / t_together)
        print(f"round {r}: one pass per language {n / t_each:7.1f} sentences/s ({t_each:.1f} s); "
              f"together {n / t_together:7.1f} sentences/s ({t_together:.1f} s); "
              f"{ratios[-1]:.2f}x; same scores: {same}")
    print(f"together / per language: {', '.join(f'{x:.2f}x' for x in ratios)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
