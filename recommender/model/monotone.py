"""The gain an answer shows beside the ranker's order: the gain model's predictions made monotone.

The ranker orders sources (trained for it, held-out top-1 loss in ``stepstone evaluate``); the gain
model predicts the size of gains. Shown side by side they can disagree (#2 at −12.7 above #3 at
+3.9). The answer shows one figure per item and orders by it, so the figure is the gain model's
prediction projected onto the ranker's order: the non-increasing sequence (in ranker order)
closest to the gain model's predictions in least squares (pool-adjacent-violators). Where the two
models agree nothing moves; where they disagree, neighbouring items share the mean of their
predictions. The order of the items is then the ranker's, unchanged, and the figure beside each
is as close to the gain model's as that order allows.
"""

from __future__ import annotations

import numpy as np


def non_increasing(values: np.ndarray) -> np.ndarray:
    """The least-squares non-increasing fit of ``values`` (in the given order); NaN stays NaN."""
    v = np.asarray(values, dtype=float)
    out = np.full(len(v), np.nan)
    ok = np.flatnonzero(np.isfinite(v))
    if not len(ok):
        return out
    sums: list[float] = []
    counts: list[int] = []
    for x in v[ok]:
        sums.append(float(x))
        counts.append(1)
        # a later block above an earlier one violates "non-increasing": pool them
        while len(sums) > 1 and sums[-1] / counts[-1] > sums[-2] / counts[-2]:
            s, c = sums.pop(), counts.pop()
            sums[-1] += s
            counts[-1] += c
    fitted = np.repeat([s / c for s, c in zip(sums, counts, strict=True)], counts)
    out[ok] = fitted
    return out


def shown_gains(scores: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Gains made non-increasing in the order of ``scores`` (highest first), returned in input order."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    out = np.full(len(gains), np.nan)
    out[order] = non_increasing(np.asarray(gains, dtype=float)[order])
    return out


__all__ = ["non_increasing", "shown_gains"]
