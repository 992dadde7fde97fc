"""The answer contract over the whole store: every (task, measured target language), k = 50.

    python bench/answer_contract.py [--tasks udpos,tydiqa] [--limit N] [--every-language]

Prints the queries and items checked and the violations per kind (measured cells shown as
predicted, candidates without training data, unnamed items, order inversions, "train" advice on
an interval that reaches below the noise threshold, arrows against their sign), with examples.
"""

from __future__ import annotations

import argparse
import json
import time

from recommender.evaluation.contract import check_store
from recommender.service import Service


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default=None, help="comma-separated task ids (default: every task with runs)")
    ap.add_argument("--limit", type=int, default=None, help="check this many queries, spread evenly")
    ap.add_argument("--every-language", action="store_true",
                    help="every registry target task x every language of the store, not only measured targets")
    args = ap.parse_args()
    svc = Service()
    t0 = time.perf_counter()
    tasks = args.tasks.split(",") if args.tasks else None
    out = check_store(svc, tasks, limit=args.limit, every_language=args.every_language)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
