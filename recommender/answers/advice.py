"""Advice per decision, read off its items and their intervals at the answer's level.

- **train on X** — X is the first item (the highest figure) and its whole interval lies at or
  above the noise threshold: a run of X is expected to beat the baseline by more than noise.
- **measure first: X, Y** — no item clears that bar, but some items are expected to help (figure
  above 0) and their interval reaches the threshold: a run of them would decide. The Service adds
  what those runs cost, as the planner prices them.
- **skip** — no item is likely to help (every figure at or below 0, or every interval below the
  threshold): use the baseline, fine-tune on the target task in English.

The noise threshold is ``NOISE_THRESHOLD`` = 1 point: below what separates published runs of the
very same baseline (XLM-R Large on XNLI averages 80.9 in the XLM-R paper and 78.7 in the XTREME
paper, ``baseline_xlmr_large_english_only.csv``), so a smaller gain does not pay for an extra stage.
An item without an interval never gets "train". A pure function of the entries, tested without a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from recommender.answers.entry import Entry

NOISE_THRESHOLD = 1.0
MEASURE_AT_MOST = 3
_WHAT = {"intermediate": "intermediate task", "language": "other-language training set"}


def advise(entries: Sequence[Entry], target_task: str, kind: str,
           threshold: float = NOISE_THRESHOLD) -> tuple[str | None, str | None, list[str]]:
    """(advice, detail, the items it names) for a decision whose ``entries`` are ordered by figure."""
    shown = [e for e in entries if math.isfinite(e.gain)]
    if not shown:
        return None, None, []
    what = _WHAT.get(kind, "candidate")
    best = shown[0]
    if math.isfinite(best.low) and best.low >= threshold:
        return "train", (f"train on {best.label()}: {best.gain:+.2f} points ({best.basis}), and its whole interval "
                         f"({best.low:+.1f} … {best.high:+.1f}) lies above the noise threshold of {threshold:g} "
                         "point"), [best.label()]
    hopeful = [e for e in shown if e.gain > 0 and (not math.isfinite(e.high) or e.high >= threshold)]
    if hopeful:
        names = [e.label() for e in hopeful[:MEASURE_AT_MOST]]
        return "measure first", (f"no {what} is sure to gain {threshold:g} point or more, but "
                                 f"{', '.join(names)} may: their intervals straddle the noise threshold "
                                 f"(best {hopeful[0].gain:+.2f}, {hopeful[0].low:+.1f} … {hopeful[0].high:+.1f}); "
                                 "one run of each would decide"), names
    return "skip", (f"no {what} is likely to help: the best ({best.label()}) is at {best.gain:+.2f} points, "
                    f"interval {best.low:+.1f} … {best.high:+.1f}; use the baseline instead, fine-tune on "
                    f"{target_task} in English and transfer zero-shot"), []


__all__ = ["MEASURE_AT_MOST", "NOISE_THRESHOLD", "advise"]
