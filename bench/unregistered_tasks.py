"""Source-language ranking for target tasks the task registry does not know (LOLO, self excluded).

    PYTHONPATH=. .venv/bin/python bench/unregistered_tasks.py                  # XNLI/XQuAD/TyDiQA renamed
    PYTHONPATH=. .venv/bin/python bench/unregistered_tasks.py --udpos 20       # + UD-POS, 20 targets
    PYTHONPATH=. .venv/bin/python bench/unregistered_tasks.py --udpos 105 --rename udpos   # UD-POS renamed,
                                                               # trained among the registered XTREME runs
    PYTHONPATH=. .venv/bin/python bench/unregistered_tasks.py --registered     # + the same runs as shipped

A lab's own task is rarely in ``feature_store/data/tasks.toml``: its runs still train the ranker,
and the ranker has to rank sources for it as well as for a registered task. The shipped matrices
are real transfer data; here their task ids are renamed to ids the registry does not hold
(``xnli`` → ``nli_unreg``, …), so every registry feature of the target task is unknown and the
model sees the task only through its runs. The script prints, per setting, the ranker's and the
baselines' NDCG@3 and top-1 loss under leave-one-language-out, the mean over the settings, and,
with ``--registered``, the same runs under their registered ids for comparison.

It imports whatever ``recommender`` is first on ``PYTHONPATH``, so the same command measures any
revision of the tree (the evaluation entry point moved when the recommender was grouped by
concern; both places are tried). One process, ``--jobs`` folds at a time.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from importlib import resources
from typing import Any

RENAMES = {"xnli": "nli_unreg", "xquad": "extqa_unreg", "tydiqa": "infoqa_unreg", "udpos_v2.8": "pos_unreg"}
MATRICES = {"xtreme": "langrankplus_xtreme_xlmr.csv", "udpos": "devries2022_udpos_xlmr_base.csv"}
SHOWN = ("random", "english", "best_on_average", "nearest_genetic", "nearest_syntactic")


def shipped_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("feature_store").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def udpos_subset(rows: list[dict[str, str]], n_targets: int) -> list[dict[str, str]]:
    """UD-POS runs of ``n_targets`` target languages spread evenly over the sorted codes (all sources)."""
    targets = sorted({r["target_language"] for r in rows})
    keep = set(targets[::max(1, len(targets) // n_targets)][:n_targets])
    return [r for r in rows if r["target_language"] in keep]


def rename(rows: list[dict[str, str]], which: str = "all") -> list[dict[str, str]]:
    """The runs under task ids the registry does not hold (and a dataset name that says so).

    ``which`` renames only one matrix's tasks ("xtreme" or "udpos"); the rest keep their
    registered ids and train the same model, as a lab's runs would sit among the shipped ones.
    """
    out = []
    for r in rows:
        if which != "all" and (r["target_task"] == "udpos_v2.8") != (which == "udpos"):
            out.append(r)
            continue
        r = dict(r)
        r["target_task"] = RENAMES.get(r["target_task"], r["target_task"])
        r["source_task"] = RENAMES.get(r["source_task"], r["source_task"])
        r["dataset"] = "heldout:" + r["dataset"]
        out.append(r)
    return out


def to_runs(rows: list[dict[str, str]]) -> list[Any]:
    from feature_store.runs.files import parse_csv_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return list(parse_csv_text(buf.getvalue(), "heldout.csv"))


def evaluate(runs: list[Any], jobs: int) -> dict[str, Any]:
    try:
        from recommender.evaluation.crossval import evaluate_runs
    except ImportError:  # the tree before the recommender was grouped by concern
        from recommender.evaluate import evaluate_runs  # type: ignore[import-not-found,no-redef]
    result: dict[str, Any] = evaluate_runs(runs, split="lolo", n_jobs=jobs)
    return result


def report(title: str, result: dict[str, Any], tasks: set[str]) -> dict[str, float]:
    """Print a result; return the mean NDCG@3 per method over the settings of ``tasks``."""
    print(f"\n== {title}")
    print(f"  {'setting':<14} {'queries':>7} {'method':<18} {'ndcg@3':>7} {'top1_loss':>9}")
    sums: dict[str, list[float]] = {}
    for s in result["settings"]:
        counted = s["target_task"] in tasks
        rows = [("ranker", s["ranker"]), *((n, s["baselines"][n]) for n in SHOWN if n in s["baselines"])]
        for i, (name, m) in enumerate(rows):
            head = f"{s['target_task']:<14} {s['queries']:>7}" if i == 0 else f"{'':<14} {'':>7}"
            note = "  (trains alongside; not in the mean)" if i == 0 and not counted else ""
            print(f"  {head} {name:<18} {100 * m['ndcg@3']:>7.1f} {m['top1_loss_pct']:>9.2f}{note}")
            if counted:
                sums.setdefault(name, []).append(100 * m["ndcg@3"])
    means = {k: sum(v) / len(v) for k, v in sums.items()}
    print(f"  mean NDCG@3 over {', '.join(sorted(tasks))}: " + ", ".join(f"{k} {v:.1f}" for k, v in means.items()))
    return means


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--udpos", type=int, default=0, metavar="N",
                        help="also UD-POS, on N of its target languages (0: leave it out)")
    parser.add_argument("--no-xtreme", action="store_true", help="leave XNLI/XQuAD/TyDiQA out")
    parser.add_argument("--rename", choices=("all", "xtreme", "udpos"), default="all",
                        help="whose task ids to move outside the registry (default: all)")
    parser.add_argument("--registered", action="store_true", help="also evaluate the runs under their shipped ids")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("STEPSTONE_HOME", tempfile.mkdtemp(prefix="stepstone-bench-"))

    rows: list[dict[str, str]] = [] if args.no_xtreme else shipped_rows(MATRICES["xtreme"])
    if args.udpos:
        rows += udpos_subset(shipped_rows(MATRICES["udpos"]), args.udpos)
    if not rows:
        print("Error: nothing to evaluate (--no-xtreme without --udpos)", file=sys.stderr)
        return 1
    import recommender

    print(f"recommender from {os.path.dirname(recommender.__file__)}; {len(rows)} runs")
    t0 = time.perf_counter()
    renamed = rename(rows, args.rename)
    originals = {old["target_task"] for old, new in zip(rows, renamed, strict=True)
                 if old["target_task"] != new["target_task"]}
    unreg = report("task ids outside the registry", evaluate(to_runs(renamed), args.jobs),
                   {RENAMES[t] for t in originals})
    if args.registered:
        reg = report("the same runs under their registered ids", evaluate(to_runs(rows), args.jobs), originals)
        print(f"\nranker NDCG@3, unregistered − registered: {unreg['ranker'] - reg['ranker']:+.1f} points")
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
