"""Advice per decision: train on the best candidate, or skip it and use the English baseline.

"skip" fires when no candidate of the decision is expected to gain ``MIN_GAIN`` points or more
(its predicted gain, the middle of its interval). One point is below what separates published
reruns of the very same baseline: XLM-R Large on XNLI averages 80.9 in the XLM-R paper and 78.7 in
the XTREME paper (``baseline_xlmr_large_english_only.csv``), so a smaller expected gain does not pay
for an extra training stage. A pure function of plain numbers, so it is tested without a model.
"""

from __future__ import annotations

import math

MIN_GAIN = 1.0
_WHAT = {"intermediate": "intermediate task", "language": "other-language training set"}


def advice(best_gain: float | None, target_task: str, kind: str = "intermediate", best: str = "",
           min_gain: float = MIN_GAIN) -> tuple[str | None, str | None]:
    """("skip", why) when the best predicted gain is below ``min_gain``; ("train", None) otherwise."""
    if best_gain is None or not math.isfinite(best_gain):
        return None, None
    if best_gain < min_gain:
        name = f" ({best})" if best else ""
        return "skip", (f"no {_WHAT.get(kind, 'candidate')} is expected to gain {min_gain:g} point or more: the "
                        f"best{name} is predicted at {best_gain:+.2f}; use the baseline instead, fine-tune on "
                        f"{target_task} in English and transfer zero-shot")
    return "train", None


__all__ = ["advice", "MIN_GAIN"]
