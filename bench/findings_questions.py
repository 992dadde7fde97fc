"""The four seed questions of bench/findings.py, each answered by the numbers against the noise floor.

(a) seed question 000: do linguistic-diversity features pick the intermediate task per (low-resource)
    language? Decided by whether per-language gains reproduce across seeds, then by the held-out
    evaluation against best_on_average and always-skip;
(b) 001: task difficulty, and syntactic vs semantic tasks on syntactic vs semantic targets;
(c) 003: intermediate data size for close vs distant languages, with updates and with epochs fixed;
(d) 004: the feature-based ranker against random selection, always-skip and best_on_average.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
from findings_stats import (
    Table,
    best_agreement,
    boot_diff,
    boot_groups,
    boot_mean,
    headroom,
    icc,
    interaction_corr,
    seed_corr,
    seed_sd,
    sign_agreement,
    spearman,
    spearman_p,
    verdict,
)

LEVEL = {"cola": "syntactic", "conll2003": "syntactic", "udpos": "syntactic", "rte": "semantic", "sst2": "semantic"}
TARGET_LEVEL = {"udpos": "syntactic", "masakhaner": "syntactic", "sib200": "semantic"}
REPRODUCIBLE = 0.5  # seed-to-seed correlation of per-language gains from which a language's gain is its own
NOISE = 0.2  # ... and below which it is seed noise


def f(x: float | None, digits: int = 2, sign: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def per_target(tables: dict[tuple[str, str, int | None], Table]) -> dict[str, dict[str, Table]]:
    """target -> intermediate task -> gains (a main matrix trains each task at one size)."""
    out: dict[str, dict[str, Table]] = defaultdict(dict)
    for (target, source, _), t in sorted(tables.items(), key=lambda kv: str(kv[0])):
        if source in out[target]:
            raise ValueError(f"{target}: {source} trained at several sizes; a size sweep is read by section_c")
        out[target][source] = t
    return dict(out)


def section_seeds(
    by_target: dict[str, dict[str, Table]], learned: dict[str, bool]
) -> tuple[list[str], dict[str, float]]:
    """Seed-to-seed reproducibility of per-language gains, per target and intermediate task."""
    lines = [
        "## Do per-language gains reproduce across seeds?",
        "",
        "For each intermediate task: the Pearson correlation across languages between two seeds' gains (mean, "
        "and the range over seed pairs), ICC(1) (the share of a gain's variance that belongs to the language "
        "rather than to the seed), and how many languages keep one sign in every seed (what chance alone gives "
        "in brackets). The last column is the seed noise of the task's mean gain (standard deviation over seeds "
        "of the mean over languages).",
        "",
        "| target | intermediate task | learned | seeds | languages | seed-to-seed r | range | ICC(1) | "
        "same sign in every seed | seed SD of the mean gain |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    corr: dict[str, float] = {}
    for target, tasks in sorted(by_target.items()):
        for source, t in sorted(tasks.items()):
            r, lo, hi = seed_corr(t.g)
            same, n, chance = sign_agreement(t.g)
            corr[f"{target}/{source}"] = r
            lines.append(
                f"| {target} | {source} | {'yes' if learned.get(source) else 'no'} | {len(t.seeds)} | "
                f"{n} | {f(r, 2, True)} | {f(lo, 2, True)} … {f(hi, 2, True)} | {f(icc(t.g), 2, True)} | "
                f"{same} of {n} ({chance * n:.0f}) | {f(seed_sd(t.g))} |"
            )
    return lines, corr


def section_a(
    by_target: dict[str, dict[str, Table]],
    evaluation: dict[str, Any],
    floors: dict[str, float],
    learned: dict[str, bool],
    corr: dict[str, float],
) -> list[str]:
    lines = [
        "## (a) Seed question 000: do linguistic-diversity features pick the intermediate task per language?",
        "",
        "Per language, a task can only be picked by language features if which task is best for which "
        "language reproduces across seeds. The task × language pattern (each seed's gains with the task's "
        "mean over languages and the language's mean over tasks taken out) is correlated between seeds; and "
        "the best task per language is compared across seeds. Learned intermediate tasks only.",
        "",
        "| target | tasks | seeds | languages | task × language r between seeds | languages whose best task "
        "is the same in every seed (chance) | tasks that are best somewhere (seed mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for target, tasks in sorted(by_target.items()):
        keep = {s: t for s, t in tasks.items() if learned.get(s)}
        below = ""
        if len(keep) < 2:  # too few learned tasks: read every task that has two seeds, and say so
            keep = {s: t for s, t in tasks.items() if len(t.seeds) >= 2}
            below = " (tasks below their gate included)"
        if len(keep) < 2:
            continue
        seeds = sorted(set.intersection(*(set(t.seeds) for t in keep.values())))
        langs = sorted(set.intersection(*(set(t.langs) for t in keep.values())))
        if len(seeds) < 2:
            continue
        stack = np.stack([keep[s].restrict(seeds, langs).g for s in sorted(keep)])
        r = interaction_corr(stack)
        same, n, chance = best_agreement(stack)
        names = sorted(keep)
        winners = sorted({names[i] for i in stack.mean(axis=1).argmax(axis=0)})
        lines.append(
            f"| {target} | {', '.join(names)}{below} | {len(seeds)} | {n} | {f(r, 2, True)} | "
            f"{same} of {n} ({chance * n:.1f}) | {', '.join(winners)} |"
        )
        per_task = [corr[f"{target}/{x}"] for x in keep if math.isfinite(corr.get(f"{target}/{x}", math.nan))]
        median = f"per task, gains correlate r {f(float(np.median(per_task)), 2, True)} between seeds (median); "
        median = median if per_task else ""
        if len(winners) == 1:
            verdicts.append(
                f"{target}: one task ({winners[0]}) is best in every language ({median}task × language r "
                f"{f(r, 2, True)}), so there is nothing to pick per language"
            )
            continue
        kind = "reproduces" if r >= REPRODUCIBLE else "is seed noise" if r < NOISE else "reproduces only weakly"
        verdicts.append(
            f"{target}: which task suits which language {kind} ({median}task × language r {f(r, 2, True)}; "
            f"{same} of {n} languages keep their best task in every seed, {chance * n:.1f} by chance)"
        )
    lines += ["", f"Thresholds: r ≥ {REPRODUCIBLE} counts as reproducible, r < {NOISE} as seed noise."]
    lines += [
        "",
        "Held-out check (`stepstone evaluate --ablations`, leave one language out): top-1 loss (% of the "
        "best score lost) of choosing with linguistic features (`neighbours`, the answer of `recommend "
        "--candidates intermediate`) against the same choice without them (`best_on_average`) and against "
        "always skipping the step; the seed-noise floor is the top-1 loss of choosing by one seed and "
        "scoring by another (mean over seed pairs).",
        "",
        "| target | neighbours | best_on_average | no_intermediate | low-resource: neighbours | low-resource: "
        "best_on_average | seed-noise floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in evaluation.get("settings", []):
        m = (s.get("intermediate") or {}).get("methods")
        if not m:
            continue
        nb, boa, skip = m.get("neighbours", {}), m.get("best_on_average", {}), m.get("no_intermediate", {})
        lines.append(
            f"| {s['target_task']} | {f(nb.get('top1_loss_pct'))} | {f(boa.get('top1_loss_pct'))} | "
            f"{f(skip.get('top1_loss_pct'))} | {f((nb.get('low_resource') or {}).get('top1_loss_pct'))} | "
            f"{f((boa.get('low_resource') or {}).get('top1_loss_pct'))} | {f(floors.get(s['target_task']))} |"
        )
        gap = (nb.get("top1_loss_pct") or math.nan) - (boa.get("top1_loss_pct") or math.nan)
        floor = floors.get(s["target_task"], math.nan)
        said = "lower" if gap < -floor else "higher" if gap > floor else "no different"
        verdicts.append(
            f"{s['target_task']}: with linguistic features the top-1 loss is {said} than without "
            f"({f(nb.get('top1_loss_pct'))} vs {f(boa.get('top1_loss_pct'))}; floor {f(floor)})"
        )
    noise = [v for v in verdicts if "is seed noise" in v or "only weakly" in v or "nothing to pick" in v]
    if not verdicts:
        return [*lines, "", "Answer: not answerable here: fewer than two learned intermediate tasks with two seeds."]
    answer = ("No, not from this data: " if noise else "Answer: ") + "; ".join(verdicts) + "."
    if noise:
        answer += (
            " Where one task wins everywhere, or which task suits which language is (mostly) seed noise, "
            "linguistic features have nothing to "
            "learn per language: the choice is the same for every language (best_on_average), and a "
            "feature-based pick can only match it within the floor."
        )
    return [*lines, "", answer]


def section_b(
    by_target: dict[str, dict[str, Table]], learned: dict[str, bool], dev: dict[str, list[tuple[float, float]]]
) -> tuple[list[str], list[tuple[str, str, float, float, float]]]:
    lines = [
        "## (b) Seed question 001: difficulty, and syntactic vs semantic intermediate tasks",
        "",
        "Mean gain of each intermediate task over the target's languages and seeds (the same seeds for every "
        "task), with a 95% two-way bootstrap interval (seeds and languages resampled) and the seed noise of "
        "the mean beside it:",
        "",
        "| target (level) | intermediate task (level) | learned | seeds | languages | mean gain | 95% interval | "
        "seed SD | says |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for target, tasks in sorted(by_target.items()):
        seeds = sorted(set.intersection(*(set(t.seeds) for t in tasks.values())))
        for source, t in sorted(tasks.items()):
            g = t.restrict(seeds, t.langs).g
            m, lo, hi = boot_mean(g)
            rows.append((target, source, m, lo, hi))
            lines.append(
                f"| {target} ({TARGET_LEVEL.get(target, '?')}) | {source} ({LEVEL.get(source, '?')}) | "
                f"{'yes' if learned.get(source) else 'no'} | {len(seeds)} | {g.shape[1]} | {f(m, 2, True)} | "
                f"{f(lo, 2, True)} … {f(hi, 2, True)} | {f(seed_sd(g))} | {verdict(lo, hi).split(' (')[0]} |"
            )
    lines += [
        "",
        "Same level vs the other level (learned tasks only): the mean gain of the target's same-level tasks "
        "minus that of the other level's, with the same bootstrap (paired: the same seeds and languages):",
        "",
        "| target | same-level tasks | other-level tasks | difference | 95% interval | says |",
        "|---|---|---|---|---|---|",
    ]
    answers = []
    for target, tasks in sorted(by_target.items()):
        keep = {s: t for s, t in tasks.items() if learned.get(s) and s in LEVEL}
        same = [s for s in keep if LEVEL[s] == TARGET_LEVEL.get(target)]
        other = [s for s in keep if LEVEL[s] != TARGET_LEVEL.get(target)]
        if not same or not other:
            continue
        seeds = sorted(set.intersection(*(set(t.seeds) for t in keep.values())))
        langs = sorted(set.intersection(*(set(t.langs) for t in keep.values())))
        a = np.mean([keep[s].restrict(seeds, langs).g for s in same], axis=0)
        b = np.mean([keep[s].restrict(seeds, langs).g for s in other], axis=0)
        d, lo, hi = boot_diff(a, b)
        said = verdict(lo, hi)
        lines.append(
            f"| {target} ({TARGET_LEVEL.get(target)}) | {', '.join(same)} | {', '.join(other)} | "
            f"{f(d, 2, True)} | {f(lo, 2, True)} … {f(hi, 2, True)} | {said.split(' (')[0]} |"
        )
        how = {"higher": "more", "lower": "less"}.get(said, "no differently (the interval holds 0)")
        twice = " (its CoNLL-2003 cell is the same English data twice: MasakhaNER fine-tunes on CoNLL-2003)"
        twice = twice if target == "masakhaner" and "conll2003" in same else ""
        answers.append(
            f"on {target} ({TARGET_LEVEL.get(target)}) same-level tasks gain {how} than the other level "
            f"({f(d, 2, True)} points, {f(lo, 2, True)} … {f(hi, 2, True)}){twice}"
        )
    if dev:
        lines += [
            "",
            "Difficulty for this model: headroom = 1 − (English dev − chance) / (100 − chance), on 0–1 "
            "(a dev score at or below chance counts as 1, nothing learned), mean over seeds; its Spearman "
            "correlation with the mean gain, with the exact permutation p-value (with five tasks only a "
            "near-perfect order can be told from chance):",
            "",
            "| target | headroom per task | Spearman | p |",
            "|---|---|---|---|",
        ]
        for target in sorted(by_target):
            pairs = [
                (s, float(np.mean([headroom(d, c) for d, c in dev[s]])), m)
                for t, s, m, _, _ in rows
                if t == target and s in dev
            ]
            if len(pairs) < 3:
                continue
            h, g = [p[1] for p in pairs], [p[2] for p in pairs]
            rho, p = spearman(h, g), spearman_p(h, g)
            lines.append(
                f"| {target} | {', '.join(f'{s} {x:.2f}' for s, x, _ in pairs)} | {f(rho, 2, True)} | {f(p)} |"
            )
            answers.append(
                f"harder tasks gain {'more' if rho > 0 else 'less'} on {target} (Spearman "
                f"{f(rho, 2, True)}, p {f(p)}: {'not told from chance' if p > 0.05 else 'beyond chance'})"
            )
    return [*lines, "", "Answer: " + "; ".join(answers) + "." if answers else "Answer: not enough learned tasks."], rows


def section_c(
    sweeps: dict[str, dict[tuple[str, str, int | None], Table]], dist: dict[str, float]
) -> tuple[list[str], Any]:
    lines = ["## (c) Seed question 003: intermediate data size for close vs distant languages", ""]
    if not sweeps:
        return [*lines, "No size sweep is shipped; not answered."], None
    cut = float(np.median(list(dist.values())))
    lines += [
        f"SST-2 → UD-POS. Languages split at the median syntactic distance to English ({cut:.2f}). Mean gain "
        "(seeds × languages of the group) with its 95% two-way bootstrap interval:",
        "",
    ]
    answers, plot = [], {}
    overall: dict[str, tuple[float, float, float]] = {}
    for name, tables in sorted(sweeps.items()):
        sizes = sorted(k[2] for k in tables if k[2])
        if len(sizes) < 2:
            continue
        seeds = sorted(set.intersection(*(set(tables[k].seeds) for k in tables)))
        langs = sorted(set.intersection(*(set(tables[k].langs) for k in tables)) & set(dist))
        near = [lang for lang in langs if dist[lang] <= cut]
        far = [lang for lang in langs if dist[lang] > cut]
        lines += [
            f"**{name}** ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
            + ("" if len(seeds) > 1 else "; with one seed the intervals resample languages only: no seed noise in them")
            + "):",
            "",
            "| group | languages | " + " | ".join(f"{s:,} examples" for s in sizes) + " |",
            "|---|---|" + "---|" * len(sizes),
        ]
        curves = {}
        for group, members in (("near English", near), ("far from English", far)):
            cells = []
            means = []
            for s in sizes:
                key = next(k for k in tables if k[2] == s)
                m, lo, hi = boot_mean(tables[key].restrict(seeds, members).g)
                cells.append(f"{f(m, 2, True)} ({f(lo, 1, True)} … {f(hi, 1, True)})")
                means.append(m)
            curves[group] = means
            lines.append(f"| {group} | {len(members)} | " + " | ".join(cells) + " |")
        first, last = (next(k for k in tables if k[2] == s) for s in (sizes[0], sizes[-1]))
        steps = [tables[last].restrict(seeds, grp).g - tables[first].restrict(seeds, grp).g for grp in (far, near)]
        d, lo, hi = boot_groups(steps, [1.0, -1.0])  # each language's own change, paired by seed
        near_step = curves["near English"][-1] - curves["near English"][0]
        far_step = curves["far from English"][-1] - curves["far from English"][0]
        whole = boot_groups([tables[last].restrict(seeds, langs).g - tables[first].restrict(seeds, langs).g], [1.0])
        overall[name] = whole
        lines += [
            "",
            f"From {sizes[0]:,} to {sizes[-1]:,} examples the gain changes by {f(near_step, 2, True)} near "
            f"and {f(far_step, 2, True)} far; far minus near: {f(d, 2, True)} ({f(lo, 2, True)} … "
            f"{f(hi, 2, True)}). Over all {len(langs)} languages: {f(whole[0], 2, True)} "
            f"({f(whole[1], 2, True)} … {f(whole[2], 2, True)}).",
            "",
        ]
        said = (
            "distant languages gain less from more data"
            if hi < 0
            else "distant languages gain more from more data"
            if lo > 0
            else "close and distant languages respond alike (the interval holds 0)"
        )
        if len(seeds) < 2:
            said += "; with one seed this cannot be told from seed noise, so the question stays open"
        answers.append(f"{name}: {said} ({f(d, 2, True)}, {f(lo, 2, True)} … {f(hi, 2, True)})")
        plot[name] = (sizes, curves)
    fixed = {k.split(" fixed")[0]: v for k, v in overall.items()}
    if {"updates", "epochs"} <= set(fixed):
        (u, ulo, uhi), (e, elo, ehi) = fixed["updates"], fixed["epochs"]
        lines += [
            f"Size and updates told apart: with the updates held fixed, more data alone moves the mean gain by "
            f"{f(u, 2, True)} ({f(ulo, 2, True)} … {f(uhi, 2, True)}); with the epochs held fixed, where the "
            f"updates grow with the data, by {f(e, 2, True)} ({f(elo, 2, True)} … {f(ehi, 2, True)}).",
            "",
        ]
        answers.append(
            "size itself " + ("moves the gain" if ulo > 0 or uhi < 0 else "does not move the gain beyond seed noise")
            + " when the updates are held fixed"
        )
    return [*lines, "Answer: " + "; ".join(answers) + "."], plot


def section_d(evaluation: dict[str, Any], floors: dict[str, float]) -> list[str]:
    lines = [
        "## (d) Seed question 004: feature-based selection vs random, always-skip and best_on_average",
        "",
        "The LightGBM ranker sees linguistic (URIEL, CC-100 size) and task (difficulty, level, size) features; "
        "`random` is a random pick's expected value, `no_intermediate` always skips the step, "
        "`best_on_average` takes the task with the best mean over the other languages. A difference counts "
        "only beyond the seed-noise floor.",
        "",
    ]
    answers = []
    for s in evaluation.get("settings", []):
        m = (s.get("intermediate") or {}).get("methods")
        if not m:
            continue
        t = s["target_task"]
        floor = floors.get(t, math.nan)
        lines += [
            f"### {t} ({s['intermediate']['queries']} held-out languages, "
            f"{s['intermediate']['low_resource_queries']} low-resource; floor {f(floor)} %)",
            "",
            "| method | top-1 loss % | ndcg@3 | regret@1 (points) |",
            "|---|---|---|---|",
        ]
        for name in ("ranker", "neighbours", "best_on_average", "no_intermediate", "random"):
            v = m.get(name) or {}
            lines.append(f"| {name} | {f(v.get('top1_loss_pct'))} | {f(v.get('ndcg@3'), 3)} | {f(v.get('regret@1'))} |")
        lines.append("")
        r = (m.get("ranker") or {}).get("top1_loss_pct", math.nan)

        def vs(name: str, r: float = r, floor: float = floor, m: dict[str, Any] = m) -> str:
            o = (m.get(name) or {}).get("top1_loss_pct", math.nan)
            said = "lower" if r < o - floor else "higher" if r > o + floor else "no different"
            return f"{said} than {name} ({f(r)} vs {f(o)})"

        answers.append(
            f"{t}: the ranker's top-1 loss is {vs('random')}, {vs('no_intermediate')}, {vs('best_on_average')}"
        )
    return [*lines, "Answer: " + "; ".join(answers) + "."]
