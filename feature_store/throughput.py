"""Measured training throughput of the trainer's own loop, per model shape and sequence length.

``data/trainer_throughput.csv`` holds what ``bench/trainer_loop.py`` measured (the command is in
each row) for a model shape (its non-embedding parameters) on a workload of a given mean sequence
length: the real (non-padding) tokens one training phase trained, its seconds, and of those the
seconds spent capturing CUDA graphs, once per batch shape; and, where measured, the summed
tokens/s of K phases packed on one GPU. A phase's rate once its graphs are captured is
``tokens / (seconds - capture_s)``; a job pays the capture once. Both cost estimates read it:
the planner's (``stepstone plan``) and the job graph's (``stepstone train plan``), so a GPU-hour
is priced at the loop's measured rate, not at a projection.

``tokens_per_second(params, tokens_per_sequence)`` picks the measured shape nearest in size,
interpolates between its workloads on the log of the sequence length (clamped to the measured
range) and scales by the ratio of FLOPs per token when the model is not that shape.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "trainer_throughput.csv"
DEVICE = "H200"
XLMR_LARGE_PARAMS = 303_000_000  # non-embedding parameters of XLM-R Large: the planner's default model


@dataclass(frozen=True)
class Rate:
    shape: str  # e.g. xlmr-large
    params: int  # non-embedding parameters
    device: str
    workload: str
    tokens_per_sequence: float  # mean real tokens per sequence of the measured workload
    tokens_per_s: float  # one training process, once its graphs are captured
    capture_s: float  # seconds of graph capture a phase pays once
    run_tokens_per_s: float  # the measured phase as a whole, capture included
    packed: int  # K processes measured together (1: not measured)
    packed_tokens_per_s: float  # their sum (capture included)


@cache
def rates(device: str = DEVICE) -> tuple[Rate, ...]:
    with open(TABLE, encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["device"] == device]
    out = []
    for r in rows:
        tokens, seconds, capture = float(r["tokens"]), float(r["seconds"]), float(r["capture_s"] or 0.0)
        packed = int(r["packed"] or 1)
        out.append(Rate(r["shape"], int(r["params"]), r["device"], r["workload"], float(r["tokens_per_sequence"]),
                        tokens / (seconds - capture), capture, tokens / seconds, packed,
                        float(r["packed_tokens_per_s"]) if packed > 1 else tokens / seconds))
    return tuple(out)


def _nearest(params: int, device: str) -> list[Rate]:
    table = rates(device)
    if not table:
        raise LookupError(f"no measured throughput for device {device!r} in {TABLE.name}")
    best = min({r.params for r in table}, key=lambda p: abs(math.log(p / params)))
    return sorted((r for r in table if r.params == best), key=lambda r: r.tokens_per_sequence)


def tokens_per_second(params: int | None, tokens_per_sequence: float, *, packed: bool = False,
                      device: str = DEVICE) -> float:
    """Training tokens/s of one cell of a model with ``params`` non-embedding parameters (None:
    XLM-R Large) on sequences of this mean length; ``packed``: its share when K cells share a GPU."""
    params = params or XLMR_LARGE_PARAMS
    rows = _nearest(params, device)

    def rate(r: Rate) -> float:
        if packed and r.packed > 1:  # a packed cell's share, scaled from the whole run to the captured rate
            return r.packed_tokens_per_s / r.packed * r.tokens_per_s / r.run_tokens_per_s
        return r.tokens_per_s

    length = max(rows[0].tokens_per_sequence, min(rows[-1].tokens_per_sequence, float(tokens_per_sequence)))
    lo = max((r for r in rows if r.tokens_per_sequence <= length), key=lambda r: r.tokens_per_sequence)
    hi = min((r for r in rows if r.tokens_per_sequence >= length), key=lambda r: r.tokens_per_sequence)
    if hi.tokens_per_sequence == lo.tokens_per_sequence:
        value = rate(lo)
    else:
        t = math.log(length / lo.tokens_per_sequence) / math.log(hi.tokens_per_sequence / lo.tokens_per_sequence)
        value = math.exp((1 - t) * math.log(rate(lo)) + t * math.log(rate(hi)))
    return value * rows[0].params / params  # FLOPs per token grow with the non-embedding parameters


def capture_seconds(params: int | None, device: str = DEVICE) -> float:
    """Graph-capture seconds a phase of a model of this size pays once (the nearest shape's most)."""
    return max(r.capture_s for r in _nearest(params or XLMR_LARGE_PARAMS, device))


def packing(params: int | None, device: str = DEVICE) -> int:
    """Cells per GPU for a model of this size: the K measured for the nearest shape where K packed
    phases together beat one phase (both timed with their capture) by more than a third, else 1."""
    rows = _nearest(params or XLMR_LARGE_PARAMS, device)
    gains = [r.packed_tokens_per_s / r.run_tokens_per_s for r in rows if r.packed > 1]
    k = max((r.packed for r in rows if r.packed > 1), default=1)
    return k if gains and min(gains) > 4 / 3 else 1
