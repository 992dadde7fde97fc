"""Held-out coverage of the gain intervals on the run store's data; run by hand.

    .venv/bin/python bench/intervals.py [--nested]

Leave-one-target-language-out: per setting and pooled, the share of held-out gains inside their
80 % interval, the rows counted and the mean width (``recommender.evaluation.intervals``).
``--nested`` calibrates each outer fold from its own training languages only (slow, honest).
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    from recommender.evaluation.intervals import held_out_coverage
    from recommender.model.dataset import assemble, group_queries
    from recommender.service import Service

    svc = Service()
    ts = assemble(group_queries(svc.store.query()), svc.builder)
    t0 = time.perf_counter()
    result = held_out_coverage(ts, nested="--nested" in sys.argv)
    for key, v in result.items():
        print(f"{key:60s} coverage {v['coverage']:.3f}  rows {v['rows']:5d}  mean width {v['mean_width']:.2f}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
