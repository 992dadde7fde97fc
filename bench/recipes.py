"""Each intermediate task's phase-1 recipe, chosen on English dev for the me5-small matrix.

    PYTHONPATH=. nice -n 10 python bench/recipes.py                # every probe below, resumable
    PYTHONPATH=. python bench/recipes.py --only cola,rte --threads 2
    PYTHONPATH=. python bench/recipes.py --report out/me5-small-gpu --device gpu   # a matrix's phase 1s

A probe is one phase-1 training (``trainer.jobs.run_job`` on a one-source matrix whose
``[source_train.<task>]`` is the probe's recipe), seed 1, evaluated on English dev after every
epoch with the trainer's own dev selection. Its best dev score is compared with the task's gate:
how far above chance a task must get before its gains count as "what that task teaches"
(CoLA MCC >= 20, i.e. 0.2; RTE accuracy >= 60; CoNLL-2003 F1 >= 60; SST-2 accuracy >= 85;
English UD-POS F1 >= 60). ``--report`` reads a finished matrix folder instead and gives the same
rows for each of its phase-1 trainings (every seed), so the shipped matrix's own dev figures are
checked against the same gates. Rows are appended to ``feature_store/data/me5_small_recipes.csv``
(one per training; a rerun replaces a probe's row).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "feature_store" / "data" / "me5_small_recipes.csv"
COLUMNS = (
    "device",
    "source",
    "task",
    "seed",
    "examples",
    "epochs",
    "learning_rate",
    "freeze_embeddings",
    "steps",
    "train_s",
    "dev_metric",
    "dev_score",
    "chance",
    "gate",
    "cleared",
    "dev_history",
)
# The gate each intermediate task's English dev score must reach (the task's metric, 0-100).
GATES = {"cola": 20.0, "rte": 60.0, "conll2003": 60.0, "sst2": 85.0, "udpos": 60.0}
# The probes run on 2 CPU cores: frozen word embeddings (half the CPU time), a seeded draw of the
# training data, at most 300 dev examples. What cleared its gate here is what the GPU matrix uses.
PROBES: list[tuple[str, dict[str, Any]]] = [
    ("sst2", {"max_train_samples": 2000, "epochs": 2, "learning_rate": 1e-4}),
    ("udpos", {"max_train_samples": 1000, "epochs": 3, "learning_rate": 1e-4}),
    ("cola", {"max_train_samples": 2000, "epochs": 3, "learning_rate": 5e-5}),
    ("conll2003", {"max_train_samples": 1500, "epochs": 4, "learning_rate": 1e-4}),
    ("rte", {"max_train_samples": 1000, "epochs": 4, "learning_rate": 5e-5}),
    ("cola", {"max_train_samples": 2000, "epochs": 3, "learning_rate": 1e-4}),
]
BASE = {
    "learning_rate": 1e-4,
    "batch_size": 32,
    "freeze_embeddings": True,
    "max_dev_samples": 300,
    "use_cpu": True,
    "save_minutes": 10,
}


def probe_matrix(task: str, knobs: dict[str, Any], out: Path, data: Path, model: Path) -> Any:
    from trainer.config import MatrixConfig, TrainConfig

    return MatrixConfig(
        data=data,
        models=[model],
        source_tasks=[task],
        target_tasks=["sib200"],
        languages=["eng"],
        out=out,
        dataset="stepstone-me5-small-recipes",
        train=TrainConfig(**BASE),
        source_train={task: dict(knobs)},
    )


def rows_of(out: Path, device: str) -> list[dict[str, Any]]:
    """One row per phase-1 training under ``out`` (its jobs' results), checked against the gates."""
    rows = []
    for path in sorted(Path(out).glob("jobs/*/result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        info, job = result.get("phase1") or {}, result.get("job") or {}
        if not info or "reused" in info:
            continue
        knobs = info.get("knobs") or {}
        selection = info.get("dev_selection") or {}
        for task in sorted(info.get("tasks") or {}):
            best = (selection.get("best") or {}).get(task)
            if best is None:
                continue  # a training without dev selection (the size sweeps) has no dev figure to check
            chance = (info.get("dev_chance") or {}).get(task)
            gate = GATES.get(task)
            rows.append({
                "device": device, "source": job.get("source_task"), "task": task, "seed": job.get("seed"),
                "examples": (info.get("tasks") or {}).get(task), "epochs": (info.get("recipe") or {}).get("epochs"),
                "learning_rate": knobs.get("learning_rate"), "freeze_embeddings": knobs.get("freeze_embeddings"),
                "steps": info.get("steps"), "train_s": round(float(info.get("runtime_s") or 0), 1),
                "dev_metric": _metric(task), "dev_score": None if best is None else round(float(best), 2),
                "chance": None if chance is None else round(float(chance), 2), "gate": gate,
                "cleared": None if best is None or gate is None else bool(best >= gate),
                "dev_history": " ".join(f"{h.get(task, float('nan')):.1f}" for h in selection.get("history") or []),
            })  # fmt: skip
    return rows


def _metric(task: str) -> str:
    from trainer.data.tasks import known_task

    spec = known_task(task)
    return spec.metric if spec else ""


def write(rows: list[dict[str, Any]], path: Path = CSV) -> None:
    """Append to the shipped CSV, replacing rows of the same (device, task, seed, recipe)."""

    def key(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple(
            str(r[k]) for k in ("device", "task", "seed", "examples", "epochs", "learning_rate", "freeze_embeddings")
        )

    old = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines())) if path.exists() else []
    new = {key(r): r for r in old}
    new.update({key(r): {k: ("" if r.get(k) is None else r[k]) for k in COLUMNS} for r in rows})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(new.values(), key=lambda r: (r["device"], r["task"], str(r["seed"]))))
    path.write_text(buf.getvalue(), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "me5-small-recipes")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "tasks")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "me5-small")
    ap.add_argument("--only", default="", help="comma-separated tasks")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", type=Path, help="read this matrix folder's phase-1 trainings instead")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--csv", type=Path, default=CSV, help="the CSV the rows go to")
    args = ap.parse_args()
    if args.report:
        rows = rows_of(args.report, args.device)
    else:
        for path in (args.data, args.model):
            if not path.is_dir():
                print(f"Error: {path} is not a folder", file=sys.stderr)
                return 1
        os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
        import torch

        torch.set_num_threads(args.threads)
        from trainer.matrix.graph import build_graph
        from trainer.matrix.jobs import run_job
        from trainer.matrix.run import absolute

        only = {t for t in args.only.split(",") if t}
        for task, knobs in PROBES:
            if only and task not in only:
                continue
            matrix = absolute(probe_matrix(task, knobs, args.out, args.data, args.model))
            for job in build_graph(matrix):
                if job.phase == 1:
                    outcome = run_job(job, matrix)
                    print(f"{task} {knobs}: {outcome.status} in {outcome.seconds:.0f} s", flush=True)
        rows = rows_of(args.out, args.device)
    for r in rows:
        print(
            f"{r['device']} {r['task']:9} seed {r['seed']} n={r['examples']} ep={r['epochs']} lr={r['learning_rate']}"
            f" frozen={r['freeze_embeddings']}: dev {r['dev_metric']} {r['dev_score']} (chance {r['chance']}, gate"
            f" {r['gate']}: {'cleared' if r['cleared'] else 'NOT cleared'}); per epoch {r['dev_history']}"
        )
    write(rows, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
