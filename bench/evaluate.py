"""Benchmark and acceptance check of ``stepstone evaluate`` on the shipped data (issue 3).

    .venv/bin/python bench/evaluate.py                 # LOLO, self excluded: the bar of issue 3
    .venv/bin/python bench/evaluate.py --ablations     # plus the feature-group ablations
    .venv/bin/python bench/evaluate.py --split lofo

Runs the evaluation in a throw-away ``$STEPSTONE_HOME`` on the shipped runs (the store is never
touched), prints per setting the ranker's and every baseline's top-1 loss and NDCG@3, the wall
time, and checks the bar: the ranker's top-1 loss at or below the best of the published numbers
(Swithord/langrankplus, LOLO, self excluded) and ``best_on_average``, and its NDCG@3 at or above
``best_on_average``, in every setting. Exit code 1 when a check fails. Goal: ≤ 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="lolo", choices=("lolo", "lofo", "loto"))
    parser.add_argument("--ablations", action="store_true")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="also write the full result here")
    args = parser.parse_args()
    os.environ.setdefault("STEPSTONE_HOME", tempfile.mkdtemp(prefix="stepstone-bench-"))

    t0 = time.perf_counter()
    from feature_store.runs.seed import shipped_runs
    from recommender.evaluation.crossval import evaluate_runs
    from recommender.evaluation.evaluate_report import PUBLISHED_TOP1

    result = evaluate_runs(shipped_runs(), split=args.split, ablations=args.ablations, n_jobs=args.jobs)
    wall = time.perf_counter() - t0
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    failures = []
    for s in result["settings"]:
        r, base = s["ranker"], s["baselines"]
        print(f"\n{s['target_task']} · {s['dataset']} · {s['queries']} queries")
        print(f"  {'method':<22} {'top1_loss_pct':>13} {'ndcg@3':>8}")
        for name, m in [("ranker", r), *base.items()]:
            print(f"  {name:<22} {m['top1_loss_pct']:>13.2f} {m['ndcg@3']:>8.3f}")
        if r.get("interval_coverage") is not None:
            print(f"  gain interval coverage (80 %): {r['interval_coverage']:.3f}")
        if args.split != "lolo":
            continue
        boa = base["best_on_average"]
        bar = min(x for x in (PUBLISHED_TOP1.get(s["target_task"]), boa["top1_loss_pct"]) if x is not None)
        if r["top1_loss_pct"] > bar + 1e-9:
            failures.append(f"{s['target_task']}: top-1 loss {r['top1_loss_pct']:.2f} > bar {bar:.2f} "
                            f"(by {r['top1_loss_pct'] - bar:.2f} points)")
        if r["ndcg@3"] < boa["ndcg@3"] - 1e-9:
            failures.append(f"{s['target_task']}: ndcg@3 {r['ndcg@3']:.4f} < best_on_average {boa['ndcg@3']:.4f} "
                            f"(by {boa['ndcg@3'] - r['ndcg@3']:.4f})")
        rules = {k: v for k, v in base.items() if k.startswith("nearest_")}
        best_rule = min(rules, key=lambda k: rules[k]["top1_loss_pct"])
        if rules[best_rule]["top1_loss_pct"] < r["top1_loss_pct"] - 1e-9:
            print(f"  note: {best_rule} beats the ranker here ({rules[best_rule]['top1_loss_pct']:.2f} vs "
                  f"{r['top1_loss_pct']:.2f}); not part of the bar, which is the published rankers and "
                  "best_on_average")
    print(f"\nwall time {wall:.1f} s (evaluation {result['seconds']} s; goal ≤ 60 s on 2 cores)")
    for f in failures:
        print(f"MISSED {f}")
    print("bar met in every setting" if not failures else f"{len(failures)} figure(s) miss the bar (exit 1)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
