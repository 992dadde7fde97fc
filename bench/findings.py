"""Write docs/findings.md from stepstone's own me5-small runs: every figure is computed here.

    .venv/bin/python bench/findings.py            # writes docs/findings.md and docs/findings/*.png
    STEPSTONE_TASK_DATA=/data/tasks .venv/bin/python bench/findings.py   # the task data elsewhere

Reads only what the package ships: the runs of the three-seed GPU matrix
(``feature_store/data/me5_small_gpu_intermediate.csv``, its size sweeps ``me5_small_gpu_sizes_{epochs,updates}.csv``,
its per-phase record ``me5_small_gpu_cells.csv``), the recipes' dev checks (``me5_small_recipes.csv``),
the earlier capped CPU matrix (``me5_small_intermediate.csv``, ``me5_small_cells.csv``) and the URIEL
features (and, where at hand, the task data, for the evaluated sentences' lengths). Without the
GPU files the CPU matrix is the one analysed. The held-out figures come from ``stepstone
evaluate``'s own code (``evaluate_runs``, LOLO, with the feature-group ablations). Every sentence
that states a conclusion is chosen by the numbers: intervals resample seeds and languages
(``findings_stats``), and a difference inside the seed-noise floor is reported as none.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from findings_doc import CAN_CANNOT, plot_b, plot_c, section_cpu, section_run, section_sanity  # noqa: E402
from findings_questions import (  # noqa: E402
    per_target,
    section_a,
    section_b,
    section_c,
    section_d,
    section_seeds,
)
from findings_stats import gain_tables  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "findings.md"
FIGS = ROOT / "docs" / "findings"
GATES = {"cola": 20.0, "rte": 60.0, "conll2003": 60.0, "sst2": 85.0, "udpos": 60.0}  # as bench/recipes.py
GATE_METRIC = {"cola": "mcc", "rte": "accuracy", "conll2003": "f1", "sst2": "accuracy", "udpos": "f1"}


def shipped(name: str) -> str | None:
    try:
        return resources.files("feature_store").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def runs_of(name: str) -> list[Any]:
    from feature_store.runs.files import parse_csv_text

    text = shipped(name)
    return parse_csv_text(text, name) if text else []


def rows_of(name: str) -> list[dict[str, str]]:
    text = shipped(name)
    return list(csv.DictReader(text.splitlines())) if text else []


def seed_floor(runs: list[Any]) -> dict[str, float]:
    """Per target: the top-1 loss (%) of picking each language's candidate by one seed's scores and
    measuring it by another's (both ways, every pair of seeds): what seed noise alone costs."""
    from recommender.evaluation.metrics import top1_loss_pct

    by: dict[tuple[str, str], dict[int, dict[tuple[str, float | None], float]]] = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        by[(r.target_task, r.target_language)][r.seed][(r.source_task, r.source_size)] = r.score
    losses: dict[str, list[float]] = defaultdict(list)
    for (task, _), seeds in by.items():
        order = sorted(seeds)
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                common = sorted(set(seeds[a]) & set(seeds[b]), key=str)
                if len(common) < 2:
                    continue
                sa = np.array([seeds[a][c] for c in common])
                sb = np.array([seeds[b][c] for c in common])
                losses[task].append(0.5 * (top1_loss_pct(sb, sa) + top1_loss_pct(sa, sb)))
    return {t: float(np.mean(v)) for t, v in losses.items()}


def learned_tasks(cells: list[dict[str, str]]) -> tuple[dict[str, bool], dict[str, list[tuple[float, float]]]]:
    """Each intermediate task: did its English dev clear its gate in every seed; (dev, chance) per seed."""
    dev: dict[str, list[tuple[float, float]]] = defaultdict(list)
    ok: dict[str, bool] = {}
    for c in cells:
        if c["phase"] != "1" or c.get("intermediate_size") or not c["dev_score"]:
            continue
        task = c["source_task"]
        score = float(c["dev_score"])
        dev[task].append((score, float(c["dev_chance"] or 0.0)))
        # a gate is on the task's metric (CoLA: MCC); a score in another metric clears nothing
        cleared = c["dev_metric"] == GATE_METRIC.get(task) and score >= GATES.get(task, math.inf)
        ok[task] = ok.get(task, True) and cleared
    return ok, dict(dev)


def distance_to_english(languages: list[str], distance: str = "syntactic") -> dict[str, float]:
    from feature_store.lang_features import DISTANCES, get_language_features

    lf = get_language_features()
    d = lf.distance_matrix(["eng"], languages)[0][:, DISTANCES.index(distance)]
    return {lang: float(x) for lang, x in zip(languages, d, strict=True) if math.isfinite(x)}


def build(data: Path | None) -> tuple[str, dict[str, Any]]:
    """The document's text and the data of its plots (nothing written)."""
    from recommender.evaluation.crossval import evaluate_runs

    gpu = runs_of("me5_small_gpu_intermediate.csv")
    cpu = runs_of("me5_small_intermediate.csv")
    runs = gpu or cpu
    cells = rows_of("me5_small_gpu_cells.csv") if gpu else rows_of("me5_small_cells.csv")
    sweep_runs = runs_of("me5_small_gpu_sizes_epochs.csv") + runs_of("me5_small_gpu_sizes_updates.csv") if gpu else []
    where = "one GPU"
    if gpu and not sweep_runs:  # the GPU call's time ran out before its sweeps: their CPU stand-ins
        sweep_runs = runs_of("me5_small_cpu_sizes_epochs.csv") + runs_of("me5_small_cpu_sizes_updates.csv")
        where = "2 CPU cores; 12 languages, 200 test sentences each, UD-POS fine-tuning on 500 sentences"
    sweeps: dict[str, Any] = defaultdict(list)
    for r in sweep_runs:
        sweeps[r.dataset].append(r)
    sweep_tables = {f"{name.rsplit('-', 1)[-1]} fixed ({where})": gain_tables(rs) for name, rs in sweeps.items()}
    if not sweep_tables:  # the CPU matrix's sweep: its own sizes, and the main matrix's SST-2 runs as its largest
        sizes = runs_of("me5_small_sst2_sizes.csv")
        seeds = {r.seed for r in sizes}
        largest = [r for r in cpu if r.target_task == "udpos" and r.seed in seeds and r.source_task == "sst2"]
        if sizes:
            name = (
                "the CPU matrix's sweep, epochs fixed (updates grow with size; the deconfounded three-seed sweeps "
                "of me5_small_gpu_sizes_*.toml did not run in the GPU call's time)"
            )
            sweep_tables = {name: gain_tables(sizes + largest)}
    learned, dev = learned_tasks(cells)
    by_target = per_target(gain_tables(runs))
    floors = seed_floor(runs)
    evaluation = evaluate_runs(runs, split="lolo", ablations=True, n_jobs=2)
    langs = sorted(
        {r.target_language for r in sweep_runs} or {r.target_language for r in runs if r.target_task == "udpos"}
    )
    seeds_lines, corr = section_seeds(by_target, learned)
    b_lines, b_rows = section_b(by_target, learned, dev)
    c_lines, c_plot = section_c(sweep_tables, distance_to_english(langs))
    lines = [
        "# Findings from stepstone's own intermediate-task matrix (me5-small)",
        "",
        "Generated by `python bench/findings.py` from the shipped runs; every figure below is computed, none "
        "typed (`tests/test_findings.py` recomputes them). **All of it is about a small (117.5M), "
        "4-bit-dequantized embedding model, not about XLM-R Large** (last section).",
        "",
        *section_run(runs, sweep_runs, cells, rows_of("me5_small_recipes.csv"), gpu=bool(gpu)),
        "",
        *section_sanity(runs, cells, learned, (GATES, GATE_METRIC), data, distance_to_english, [
            (cells, 500, "this matrix"),
            (rows_of("me5_small_cpu_sizes_epochs_cells.csv") + rows_of("me5_small_cpu_sizes_updates_cells.csv"), 200,
             "the CPU size sweeps"),
        ]),
        "",
        *seeds_lines,
        "",
        *section_a(by_target, evaluation, floors, learned, corr),
        "",
        *b_lines,
        "",
        "![gain per intermediate task](findings/gains_by_task.png)",
        "",
        *c_lines,
        *(["", "![size sweep](findings/size_sweep.png)"] if c_plot else []),
        "",
        *section_d(evaluation, floors),
        "",
        *(section_cpu(cpu, rows_of("me5_small_cells.csv"), runs_of("me5_small_sst2_sizes.csv")) if gpu else []),
        "",
        CAN_CANNOT,
    ]
    return "\n".join(lines).rstrip() + "\n", {"b": b_rows, "c": c_plot}


def task_data() -> Path | None:
    staged = Path(os.environ.get("STEPSTONE_TASK_DATA", ROOT.parent / "shared" / "data" / "tasks"))
    return staged if staged.is_dir() else None


def main() -> int:
    os.environ.setdefault("STEPSTONE_HOME", tempfile.mkdtemp(prefix="stepstone-findings-"))
    t0 = time.perf_counter()
    if not (runs_of("me5_small_gpu_intermediate.csv") or runs_of("me5_small_intermediate.csv")):
        print("Error: no shipped me5-small runs", file=sys.stderr)
        return 1
    text, plots = build(task_data())
    FIGS.mkdir(parents=True, exist_ok=True)
    plot_b(plots["b"], FIGS / "gains_by_task.png")
    if plots["c"]:
        plot_c(plots["c"], FIGS / "size_sweep.png")
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
