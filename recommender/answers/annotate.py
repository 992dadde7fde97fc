"""Annotations that turn a ranking into advice: intervals, reasons, "skip it", coverage warnings.

``Annotator`` is built by the Service from plain data (the model, its interval calibration, an
``Explainer`` and the measured target languages per task) and adds ``gain_low``/``gain_high``
(``recommender.model.calibration``), ``why`` (material reasons, ``answers.explain``), the baseline
that "skip" advice (``answers.advice``) points to, and the coverage warnings of the target
language (``answers.coverage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from feature_store.features import ENGLISH, Source
from feature_store.languages import language_name
from recommender.answers.coverage import coverage_warnings
from recommender.answers.explain import MAX_PEERS, Explainer, why
from recommender.model.calibration import Calibration
from recommender.model.ranker import TransferRanker


class Annotator:
    """Per model version and store revision: intervals, reasons, advice and coverage warnings."""

    def __init__(self, model: TransferRanker, calibration: Calibration | None, explainer: Explainer,
                 measured: Mapping[str, Sequence[str]]) -> None:
        self.model = model
        self.calibration = calibration
        self.explainer = explainer
        self.measured = measured
        self._coverage: dict[tuple[str, str], tuple[str, ...]] = {}

    def interval_level(self) -> float | None:
        return None if self.calibration is None else self.calibration.level

    def intervals(self, gains: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) per predicted gain; NaN without a calibration."""
        if self.calibration is None:
            nan = np.full(len(gains), np.nan)
            return nan, nan.copy()
        return self.calibration.intervals(gains, task)

    def reasons(self, Z: np.ndarray, scores: np.ndarray, task: str, targets: Sequence[str],
                sources: Sequence[Source], pools: Sequence[np.ndarray], rows: Sequence[int],
                max_peers: int = MAX_PEERS) -> dict[int, tuple[list[str], list[str]]]:
        """(top-3 reasons, caveats) for the design rows ``rows`` (TreeSHAP: only the rows an answer shows)."""
        return why(self.explainer, self.model.ranker_, Z, task, targets, sources, pools, rows, scores=scores,
                   max_peers=max_peers)

    def baseline(self, task: str) -> dict[str, Any]:
        """What "skip" falls back to: fine-tune on ``task`` in English and transfer zero-shot."""
        return {"source_task": task, "source_language": ENGLISH, "source_language_name": language_name(ENGLISH)}

    def coverage(self, code: str, task: str) -> list[str]:
        """The coverage warnings of a target language (cached: they change with the store only)."""
        key = (code, task)
        hit = self._coverage.get(key)
        if hit is None:
            if len(self._coverage) >= 4096:
                self._coverage.clear()
            hit = self._coverage[key] = tuple(coverage_warnings(code, task, self.measured.get(task, []),
                                                                self.explainer.lf))
        return list(hit)


__all__ = ["Annotator"]
