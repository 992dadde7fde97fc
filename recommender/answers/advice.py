"""Advice: train on the best candidate, or skip intermediate training and use the baseline.

A pure function of plain numbers, so it is tested without a model.
"""

from __future__ import annotations

import math


def advice(best_high: float | None, target_task: str) -> tuple[str | None, str | None]:
    """("skip", why) when the best candidate's interval ends below zero gain, else ("train", None)."""
    if best_high is None or not math.isfinite(best_high):
        return None, None
    if best_high < 0:
        return "skip", (f"even the best candidate's interval ends below zero gain ({best_high:+.2f}): "
                        f"use the baseline instead, fine-tune on {target_task} in English and transfer "
                        "zero-shot")
    return "train", None


__all__ = ["advice"]
