"""The descriptive parts of docs/findings.md (what was run, sanity, the earlier CPU matrix, plots)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from findings_questions import LEVEL, TARGET_LEVEL, f
from findings_stats import binomial_se, partial_spearman, seed_sd, spearman

SIB200_TEST = 204  # SIB-200's test set: the same 204 sentences in every language, all evaluated
MATRIX_SENTENCES = 500  # test sentences per language the GPU matrix scores for UD-POS and MasakhaNER


def section_run(
    runs: list[Any], sweeps: list[Any], cells: list[dict[str, str]], recipes: list[dict[str, str]], *, gpu: bool
) -> list[str]:
    from feature_store.evidence import model_card

    card = model_card("me5-small")
    lines = [
        "## What was run",
        "",
        f"Model: {card.name if card else 'me5-small'} — a small (117.5M parameters), 4-bit-dequantized, "
        "contrastively fine-tuned embedding model whose own training mix reportedly includes NLI and QA data: "
        "its gains are evidence about this model, not about XLM-R Large.",
        "",
        "| dataset | target | languages | intermediate tasks | seeds | runs |",
        "|---|---|---|---|---|---|",
    ]
    for (dataset, t), rs in sorted(_group(runs + sweeps, lambda r: (r.dataset, r.target_task)).items()):
        all_seeds = {r.seed for r in rs}
        srcs = []
        for src in sorted({r.source_task for r in rs if r.source_task != t}):
            seeds = {r.seed for r in rs if r.source_task == src}
            sizes = sorted({int(r.source_size) for r in rs if r.source_task == src and r.source_size})
            name = src + (f" at {', '.join(f'{s:,}' for s in sizes)} examples" if "sizes" in dataset else "")
            srcs.append(name if seeds == all_seeds else f"{name} (seed {', '.join(map(str, sorted(seeds)))} only)")
        lines.append(
            f"| {dataset} | {t} | {len({r.target_language for r in rs})} | {', '.join(srcs)} | "
            f"{', '.join(map(str, sorted(all_seeds)))} | {len(rs)} |"
        )
    if cells:
        p1 = [c for c in cells if c["phase"] == "1"]
        p2 = [c for c in cells if c["phase"] == "2"]
        train_s = sum(float(c["train_s"] or 0) for c in cells)
        eval_s = sum(float(c["eval_s"] or 0) for c in p2)
        tps = [float(c["tokens_per_s"]) for c in cells if c["tokens_per_s"]]
        device = "one H200 GPU" if gpu else "2 CPU cores"
        lines += [
            "",
            f"Work on {device} (`stepstone train cells`, summed over jobs that ran side by side): {len(p1)} "
            f"intermediate trainings and {len(p2)} cells, {train_s / 3600:.2f} h of training and "
            f"{eval_s / 3600:.2f} h of zero-shot evaluation; training throughput median {np.median(tps):,.0f} "
            f"tokens/s per job (range {min(tps):,.0f}–{max(tps):,.0f}; non-padding tokens). The wall time "
            "of the whole call and its command are in `feature_store/data/PROVENANCE.md`.",
        ]
    if recipes:
        lines += [
            "",
            "Recipes (`bench/recipes.py`, `feature_store/data/me5_small_recipes.csv`): each intermediate "
            "task's phase-1 recipe and its best English dev score against the task's gate:",
            "",
            "| device | task | seed | examples | epochs | learning rate | frozen embeddings | updates | dev metric "
            "| dev | chance | gate | cleared |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in recipes:
            lines.append(
                f"| {r['device']} | {r['task']} | {r['seed']} | {r['examples']} | {r['epochs']} | "
                f"{r['learning_rate']} | {r['freeze_embeddings']} | {r['steps']} | {r['dev_metric']} | "
                f"{r['dev_score']} | {r['chance']} | {r['gate']} | {r['cleared']} |"
            )
    return lines


def _group(rows: list[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for r in rows:
        out[key(r)].append(r)
    return out


def section_sanity(
    runs: list[Any],
    cells: list[dict[str, str]],
    learned: dict[str, bool],
    gates: tuple[dict[str, float], dict[str, str]],
    data: Path | None,
    distance: Callable[..., dict[str, float]],
    measured: list[tuple[list[dict[str, str]], int, str]],
) -> list[str]:
    """``measured``: cells tables with their test sentences per language and a name, for ``measured_se``."""
    lines = [
        "## Sanity before use",
        "",
        "English dev after each intermediate training (phase 1; the task's metric, "
        "CoLA by Matthews correlation × 100) and after each baseline fine-tuning (phase 2), against the best "
        "constant guess and, for intermediate tasks, the gate they must clear in every seed:",
        "",
        "| phase | task | seed | English dev | chance | gate | cleared |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        if not c["dev_task"] or c.get("intermediate_size") or (c["phase"] == "2" and c["source_task"] != "none"):
            continue
        gate = gates[0].get(c["dev_task"]) if c["phase"] == "1" else None
        metric = gates[1].get(c["dev_task"])
        if gate is None:
            cleared = "–"
        elif c["dev_metric"] != metric:
            cleared = f"**no** ({c['dev_metric']}; the gate is on {metric})"
        else:
            cleared = "yes" if float(c["dev_score"]) >= gate else "**no**"
        lines.append(
            f"| {c['phase']} | {c['dev_task']} | {c['seed']} | {c['dev_score']} | {c['dev_chance'] or '–'} | "
            f"{f(gate, 0) if gate else '–'} | {cleared} |"
        )
    missed = sorted(t for t, ok in learned.items() if not ok)
    lines += [
        "",
        (
            "Every intermediate task cleared its gate in every seed."
            if not missed
            else f"Below the gate in at least one seed: {', '.join(missed)}. Their runs stay (flagged where near "
            "chance), but the questions below leave them out wherever a task's content is the point."
        ),
    ]
    lines += [
        "",
        "Zero-shot scores (baseline runs, seeds averaged) against distance from English (URIEL), per target "
        "(Spearman; negative = falls with distance); where the task data are at hand, also with the evaluated "
        "sentences' mean length held fixed (partial Spearman of the ranks):",
        "",
        "| target | languages | syntactic | genetic | featural | score ~ sentence length | syntactic, length "
        "held fixed | genetic, length held fixed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in sorted({r.target_task for r in runs}):
        base: dict[str, list[float]] = defaultdict(list)
        for r in runs:
            if r.target_task == t and r.source_task == t:
                base[r.target_language].append(r.score)
        langs = sorted(base)
        dist = {d: distance(langs, d) for d in ("syntactic", "genetic", "featural")}
        score = {lang: float(np.mean(base[lang])) for lang in langs}
        rho = [spearman([v[x] for x in langs if x in v], [score[x] for x in langs if x in v]) for v in dist.values()]
        extra = ["–", "–", "–"]
        length = sentence_lengths(data, t, langs)
        if length:
            common = [x for x in langs if x in length and x in dist["syntactic"]]
            y, z = [score[x] for x in common], [length[x] for x in common]
            extra = [
                f(spearman(z, y), 2, True),
                f(partial_spearman([dist["syntactic"][x] for x in common], y, z), 2, True),
                f(partial_spearman([dist["genetic"][x] for x in common], y, z), 2, True),
            ]
        lines.append(
            f"| {t} | {len(langs)} | " + " | ".join(f(x, 2, True) for x in rho) + " | " + " | ".join(extra) + " |"
        )
    if data is None:
        lines += ["", "(The task data were not at hand when this was generated: no sentence lengths.)"]
    lines += [
        "",
        "Evaluation sampling error next to seed noise. SIB-200 scores every language on the same 204 "
        "sentences, so a language's accuracy p has a binomial standard error. UD-POS and MasakhaNER score "
        f"{MATRIX_SENTENCES} test sentences per language: their error is the trainer's bootstrap over sentences "
        "(`<metric>_se` in each cell's result, `eval_se` in the cells tables: the median over languages), "
        "from the cells that recorded it, put at the matrix's sentence count by √(n/500) where they scored "
        "fewer. The seed noise is the standard deviation over seeds of the baseline's score in a language "
        "(median over languages):",
        "",
        "| target | languages | median evaluation SE of a score | its basis | median seed SD of a score | seed SD "
        "of the mean over languages |",
        "|---|---|---|---|---|---|",
    ]
    for t in sorted({r.target_task for r in runs}):
        table: dict[str, dict[int, float]] = defaultdict(dict)
        for r in runs:
            if r.target_task == t and r.source_task == t:
                table[r.target_language][r.seed] = r.score
        seeds = sorted(set.intersection(*(set(v) for v in table.values())))
        g = np.array([[table[lang][s] for lang in sorted(table)] for s in seeds])
        sd = float(np.median(g.std(axis=0, ddof=1))) if len(seeds) > 1 else math.nan
        if t == "sib200":
            se = float(np.median([binomial_se(p, SIB200_TEST) for p in g.mean(axis=0)]))
            basis = f"binomial, {SIB200_TEST} sentences"
        else:
            se, basis = measured_se(t, measured)
        lines.append(f"| {t} | {g.shape[1]} | {f(se)} | {basis} | {f(sd)} | {f(seed_sd(g))} |")
    return lines


def measured_se(target: str, measured: list[tuple[list[dict[str, str]], int, str]]) -> tuple[float, str]:
    """The median ``eval_se`` of the first cells table with any for ``target``, at the matrix's
    sentence count, and what it rests on; NaN where no cell recorded one."""
    for rows, sentences, label in measured:
        values = [float(c["eval_se"]) for c in rows
                  if c["phase"] == "2" and c["target_task"] == target and c.get("eval_se")]
        if values:
            se = float(np.median(values)) * math.sqrt(sentences / MATRIX_SENTENCES)
            scaled = "" if sentences == MATRIX_SENTENCES else f", × √({sentences}/{MATRIX_SENTENCES})"
            cells = f"{len(values)} cell{'s' if len(values) > 1 else ''}"
            return se, f"bootstrap, {cells} of {label} at {sentences} sentences{scaled}"
    return math.nan, "not recorded (cells evaluated before the trainer measured it)"


def sentence_lengths(data: Path | None, task: str, languages: list[str]) -> dict[str, float]:
    """Mean words per evaluated sentence (a fixed draw of 100, as the CPU matrix took), where the data are at hand."""
    if data is None:
        return {}
    from trainer.data.files import eval_cap, find_files, read_files
    from trainer.data.tasks import known_task

    spec = known_task(task)
    out = {}
    for lang in languages:
        paths = find_files(data, task, "test", lang)
        if not paths or spec is None:
            continue
        split = eval_cap(read_files(paths, spec.format, "test"), 100)
        words = [len(ex["tokens"]) if "tokens" in ex else len(str(ex.get("text", "")).split()) for ex in split.examples]
        out[lang] = float(np.mean(words))
    return out


def section_cpu(runs: list[Any], cells: list[dict[str, str]], sizes: list[Any]) -> list[str]:
    """The earlier capped CPU matrix, for the record: what it held and why the questions no longer read it."""
    lines = [
        "## The earlier CPU matrix (dataset stepstone-me5-small)",
        "",
        "Trained on 2 CPU cores with 500 examples per phase for 2 epochs; it stays shipped. Its seeds per "
        "candidate and its seed agreement (median absolute difference between two seeds; the pair counts of "
        "the scores and of the gains differ because a gain needs both seeds of the candidate and of its "
        "baseline):",
        "",
        "| target | candidate | seeds |",
        "|---|---|---|",
    ]
    for (t, s), rs in sorted(_group(runs, lambda r: (r.target_task, r.source_task)).items()):
        lines.append(f"| {t} | {'baseline' if s == t else s} | {', '.join(map(str, sorted({r.seed for r in rs})))} |")
    lines += [
        "",
        "| target | score pairs | median score difference | gain pairs | median gain difference |",
        "|---|---|---|---|---|",
    ]
    for t in sorted({r.target_task for r in runs}):
        by: dict[tuple[str, str], dict[int, Any]] = defaultdict(dict)
        for r in runs:
            if r.target_task == t:
                by[(r.source_task, r.target_language)][r.seed] = r
        scores = [abs(v[1].score - v[2].score) for v in by.values() if {1, 2} <= set(v)]
        gains = [
            abs((v[1].score - v[1].baseline_score) - (v[2].score - v[2].baseline_score))
            for (s, _), v in by.items()
            if s != t and {1, 2} <= set(v) and v[1].baseline_score is not None and v[2].baseline_score is not None
        ]
        lines.append(
            f"| {t} | {len(scores)} | {f(float(np.median(scores)) if scores else math.nan)} | {len(gains)} | "
            f"{f(float(np.median(gains)) if gains else math.nan)} |"
        )
    unlearned = sorted({c["source_task"] for c in cells if c["phase"] == "1" and c["near_chance"] == "True"})
    lines += [
        "",
        f"Not learned there (English dev near chance): {', '.join(unlearned) or 'none'}; its size sweep "
        f"({len(sizes)} runs) had one seed and tied size to updates. Questions (a), (b) and (d) read the GPU "
        "matrix; (c) reads this sweep where no GPU sweep is shipped, and says so.",
    ]
    return lines


def plot_b(rows: list[tuple[str, str, float, float, float]], path: Path) -> None:
    from matplotlib.figure import Figure

    targets = sorted({r[0] for r in rows})
    fig = Figure(figsize=(max(3.4 * len(targets), 7.0), 3.6))
    for k, t in enumerate(targets):
        ax = fig.add_subplot(1, len(targets), k + 1)
        mine = [r for r in rows if r[0] == t]
        ax.bar(
            range(len(mine)),
            [r[2] for r in mine],
            yerr=[[r[2] - r[3] for r in mine], [r[4] - r[2] for r in mine]],
            capsize=3,
            color=["#4c72b0" if LEVEL.get(r[1]) == "syntactic" else "#dd8452" for r in mine],
        )
        ax.set_xticks(range(len(mine)), [r[1] for r in mine], rotation=45, ha="right")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{t} ({TARGET_LEVEL.get(t, '?')})")
        ax.set_ylabel("gain (points)" if k == 0 else "")
    fig.suptitle(
        "me5-small (small, 4-bit): mean gain of each intermediate task, all seeds and languages\n"
        "blue: syntactic task, orange: semantic; bars: 95% interval resampling seeds and languages",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path)


def plot_c(data: dict[str, tuple[list[int], dict[str, list[float]]]], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(data), 3.4))
    for k, (name, (sizes, curves)) in enumerate(sorted(data.items())):
        ax = fig.add_subplot(1, len(data), k + 1)
        for group, means in curves.items():
            ax.plot(sizes, means, marker="o", label=group)
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("SST-2 intermediate examples")
        ax.set_ylabel("UD-POS gain (points)" if k == 0 else "")
        ax.set_title(f"{name}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle("me5-small: intermediate data size, near vs far languages (mean over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


CAN_CANNOT = """## What a small quantized model can and cannot tell about XLM-R Large

- **Can:** whether the pipeline measures what it claims (every intermediate task learned to its gate on
  English dev, zero-shot falling with distance, seeds compared), how an intermediate step moves *this*
  encoder's cross-lingual transfer per language, and how large seed noise is next to the effects — real
  evidence that `recommend --candidates intermediate` learns from and names.
- **Cannot:** carry its gains over to XLM-R Large. The encoder is 117.5M parameters (XLM-R Large: 550M),
  4-bit-dequantized, contrastively fine-tuned on a mix that reportedly already includes NLI and QA data (so
  RTE-like steps may teach it little that is new), trained with frozen word embeddings on at most a few
  thousand examples per phase (X-STILTs: all of each task's data, every weight trained). Whether a task
  helps, which level of task suits which target, and how size interacts with distance can all change sign
  with model size; a negative verdict here (no per-language signal, no gain) is a statement about this
  model's noise and capacity. A lab should re-run the matrix on its own encoder (`stepstone train matrix`,
  the same configs with its model) before trusting a ranking for XLM-R Large.
"""
