"""Does the planner beat guessing? The reveal simulation of issue 15 on the shipped matrices.

    .venv/bin/python bench/plan.py                   # table of the curves, plan_curves.png
    .venv/bin/python bench/plan.py --format json     # {"settings": [{"name", "n", "planner", ...}]}
    .venv/bin/python bench/plan.py --runs made.csv   # also a matrix stepstone made (its own setting)

For each target language of a setting, its runs are hidden and its cells revealed one at a time
in the planner's order, in random order (the exact mean over all orders) and in best_on_average
order; after n reveals the best revealed cell is taken (``recommender.planning.simulate``).
Runs in a throw-away ``$STEPSTONE_HOME``; the store is never touched. Checks the bar: the planner's
mean top-1 loss at or below both others at every n from 1 to 5, in every setting (exit code 1 and
a MISSED line where not). One model fit per held-out language; goal: a few minutes on 2 cores.
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
    parser.add_argument("--format", default="table", choices=("table", "json"))
    parser.add_argument("--runs", action="append", default=[], help="a runs file to add (CSV, JSON, JSONL)")
    parser.add_argument("--n", type=int, default=10, help="reveals per language (default 10)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--png", default="plan_curves.png", help="where to draw the curves")
    args = parser.parse_args()
    os.environ.setdefault("STEPSTONE_HOME", tempfile.mkdtemp(prefix="stepstone-bench-"))

    t0 = time.perf_counter()
    from feature_store.runs.files import read_runs
    from feature_store.runs.seed import shipped_runs
    from recommender.planning.simulate import misses, plot_curves, simulate_runs

    runs = shipped_runs() + [r for path in args.runs for r in read_runs(path)]
    result = simulate_runs(runs, n_max=args.n, n_jobs=args.jobs)
    plot_curves(result, args.png)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    failures = misses(result)
    result["missed"] = failures
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        for s in result["settings"]:
            print(f"\n{s['name']} · {s['queries']} languages · top-1 loss (%) after n cells measured")
            print("  " + f"{'n':<16}" + "".join(f"{n:>7}" for n in s["n"]))
            for name in ("planner", "random", "best_on_average"):
                print("  " + f"{name:<16}" + "".join(f"{v:>7.2f}" for v in s[name]))
        print(f"\nwall time {result['wall_seconds']} s; curves in {args.png}")
        for f in failures:
            print(f"MISSED {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
