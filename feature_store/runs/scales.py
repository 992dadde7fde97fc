"""Score scales: every (dataset, metric) is on a 0–1 or a 0–100 scale, declared once, then enforced.

A scale is stated by the metric name (``f1_score_0-1``, ``f1_score_0-100``, ``accuracy_pct``) or,
when the name says nothing (``accuracy``, ``bleu``), by the first import of that (dataset, metric):
0–1 when every score and baseline is at most 1, else 0–100. Runs of stepstone's trainer (they
carry its ``model_hash`` and ``config_hash``) state 0–100: the trainer writes points. From then on
every score and baseline of that pair must lie in its range. On a 0–100 scale that nothing
stated, a non-zero value at or below 1 is taken for a 0–1 value that slipped in and is refused as
a mixed scale (naming the scale in the metric, e.g. ``accuracy_pct``, accepts such scores).

``RunStore.scales()`` gives the scale of every stored pair and ``declared_scales(runs)`` that of
runs held in memory; the recommender multiplies 0–1 scores by 100 so that gains are in points.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from feature_store.errors import InvalidRun

SCORE_COLUMNS = ("score", "baseline_score")

_ZERO_ONE = re.compile(r"0[-_]1(?!\d)")
_ZERO_HUNDRED = re.compile(r"0[-_]100(?!\d)|pct|percent|%")


class Scored(Protocol):
    @property
    def dataset(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def baseline_score(self) -> float | None: ...


def metric_scale(metric: str) -> int | None:
    """The scale a metric name states (1 or 100), or None when the name says nothing."""
    name = metric.lower()
    if _ZERO_HUNDRED.search(name):
        return 100
    if _ZERO_ONE.search(name):
        return 1
    return None


def stated_scale(run: Scored) -> int | None:
    """The scale a run states: by its metric name, or 0–100 for a run of stepstone's trainer (it
    carries the trainer's identity, ``model_hash`` and ``config_hash``, and the trainer writes
    every metric in points), where an F1 of 0.98 is a near-zero score, not a 0–1 value."""
    stated = metric_scale(run.metric)
    if stated is None and all(getattr(run, name, None) for name in ("model_hash", "config_hash")):
        return 100
    return stated


def declared_scales(runs: Iterable[Scored],
                    stored: Mapping[tuple[str, str], int] | None = None) -> dict[tuple[str, str], int]:
    """The scale of every (dataset, metric) of ``runs``: the stored one, else the one the metric
    name states, else the one a first import of these runs would declare (0–1 when no value is
    above 1). For runs held in memory; ``RunStore.scales()`` gives the stored ones."""
    stored = stored or {}
    top: dict[tuple[str, str], float] = {}
    for run in runs:
        pair = (run.dataset, run.metric)
        top[pair] = max([top.get(pair, 0.0), *(v for _, v in _values(run))])
    trainer = {(r.dataset, r.metric) for r in runs if stated_scale(r) == 100}
    return {pair: stored.get(pair) or metric_scale(pair[1]) or (100 if pair in trainer else None)
            or (1 if high <= 1.0 else 100) for pair, high in top.items()}


def _values(run: Scored) -> list[tuple[str, float]]:
    return [(c, v) for c in SCORE_COLUMNS if (v := getattr(run, c)) is not None]


def check_scales(runs: Sequence[Scored], stored: Mapping[tuple[str, str], int],
                 rows: Sequence[int], source: str | None = None) -> dict[tuple[str, str], int]:
    """Check every score against its pair's scale; return the scales this batch declares anew.

    ``stored`` holds the scales already declared (by earlier imports); ``rows`` the row number of
    each run, for the error, which names the row, the column, the value and the expected range.
    """
    first: dict[tuple[str, str], int] = {}
    for run in runs:
        pair = (run.dataset, run.metric)
        if pair in stored or pair in first:
            continue
        stated = stated_scale(run)
        if stated is None:
            top = max(v for r in runs if (r.dataset, r.metric) == pair for _, v in _values(r))
            stated = 1 if top <= 1.0 else 100
        first[pair] = stated
    for run, row in zip(runs, rows, strict=True):
        pair = (run.dataset, run.metric)
        scale = stored.get(pair) or first[pair]
        for column, value in _values(run):
            if not 0.0 <= value <= scale:
                raise InvalidRun(f"out of range: expected 0–{scale} for {_pair(pair)}", row=row,
                                 column=column, value=value, source=source)
            if scale == 100 and 0.0 < value <= 1.0 and stated_scale(run) is None:
                raise InvalidRun(f"mixes scales: a 0–1 value among 0–100 scores of {_pair(pair)} "
                                 "(name the scale in the metric, e.g. 'accuracy_pct', if it is meant)",
                                 row=row, column=column, value=value, source=source)
    return first


_SCALE_SUFFIX = re.compile(r"[ _-]*(0[-_]1(00)?|pct|percent|%)$")


def metric_kind(metric: str) -> str:
    """What a metric measures, without its scale: ``f1_score_0-1`` and ``f1_score_0-100`` are ``f1_score``."""
    return _SCALE_SUFFIX.sub("", metric.strip().lower())


class Measured(Scored, Protocol):
    @property
    def target_task(self) -> str: ...


def check_metrics(runs: Sequence[Measured], stored: Mapping[tuple[str, str], str], rows: Sequence[int],
                  source: str | None = None) -> None:
    """One metric per (dataset, target task), on either scale: the runs of one ranking are averaged
    and compared, so a row measured with another metric (73.0 ``accuracy_pct`` among
    ``f1_score_0-1`` runs) is refused here, naming both, instead of skewing or blocking retrains.

    ``stored``: a stored metric of each (dataset, target task) pair. A run without a metric names
    none and matches any.
    """
    seen = dict(stored)
    for run, row in zip(runs, rows, strict=True):
        pair = (run.dataset, run.target_task)
        other = seen.setdefault(pair, run.metric) or run.metric
        if run.metric and metric_kind(other) != metric_kind(run.metric):
            raise InvalidRun(f"mixes metrics: dataset {run.dataset!r} measures {run.target_task} with {other!r}; "
                             "one ranking cannot compare two metrics (use another dataset name, or fix the "
                             "metric)", row=row, column="metric", value=run.metric, source=source)


def _pair(pair: tuple[str, str]) -> str:
    dataset, metric = pair
    return f"metric {metric!r} of dataset {dataset!r}"
