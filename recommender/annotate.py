"""Annotations that turn a ranking into advice: intervals, reasons, "skip it", coverage warnings.

``Annotator`` (one per model version, cached by ``Service.annotator``) adds to every
recommendation ``gain_low``/``gain_high`` (the calibrated interval, ``recommender.intervals``) and
``why`` (top-3 reasons, ``recommender.explain``); to every answer ``interval_level``, ``advice``
("train" / "skip" / None), ``advice_detail`` and ``baseline``; and the coverage warnings of the
target language (``recommender.coverage``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from feature_store.features import ENGLISH, Source
from feature_store.languages import language_name
from feature_store.tasks import canonical_task
from recommender.coverage import coverage_warnings
from recommender.explain import MAX_PEERS, Explainer, why
from recommender.intervals import Calibration, advice

if TYPE_CHECKING:
    from recommender.registry import LoadedModel
    from recommender.service import Service


def _r(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 3)


class Annotator:
    """Per model version: adds intervals, reasons, advice and coverage warnings to answers."""

    def __init__(self, live: LoadedModel, calibration: Calibration | None, explainer: Explainer,
                 measured: dict[str, list[str]]) -> None:
        self.live = live
        self.calibration = calibration
        self.explainer = explainer
        self.measured = measured

    @classmethod
    def for_model(cls, svc: Service, live: LoadedModel) -> Annotator:
        from recommender.service import CALIBRATION_FILE

        cal = None
        if CALIBRATION_FILE in live.meta.get("files", {}):  # checksum verified by registry.load
            path = svc.registry.versions_dir / live.version / CALIBRATION_FILE
            cal = Calibration.from_json(path.read_text(encoding="utf-8"))
        measured: dict[str, set[str]] = defaultdict(set)
        for run in svc.store.iter():
            measured[canonical_task(run.target_task)].add(run.target_language)
        return cls(live, cal, Explainer(live.model.feature_names_, svc.builder.languages),
                   {k: sorted(v) for k, v in measured.items()})

    def interval_level(self) -> float | None:
        return None if self.calibration is None else self.calibration.level

    def annotate(self, items: list[dict[str, Any]], order: np.ndarray, Z: np.ndarray, scores: np.ndarray,
                 gains: np.ndarray, task: str, code: str, sources: Sequence[Source],
                 explain_rows: Sequence[int] | None = None, max_peers: int = MAX_PEERS) -> list[dict[str, Any]]:
        """Items (in ``order`` of the rows of ``Z``) gain ``gain_low``, ``gain_high`` and ``why``.

        TreeSHAP costs ~0.1 ms a row, so on the request path only ``explain_rows`` (the rows an
        answer returns) are explained, against a smaller peer sample; default: every row.
        """
        if self.calibration is not None:
            lo, hi = self.calibration.intervals(gains, task)
        else:
            lo = hi = np.full(len(gains), np.nan)
        n = len(sources)
        rows = order.tolist() if explain_rows is None else list(explain_rows)
        reasons = why(self.explainer, self.live.model.ranker_, Z, task, [code] * n, sources,
                      [np.arange(n)] * n, rows, scores=scores, max_peers=max_peers)
        for item, i in zip(items, order.tolist(), strict=True):
            item["gain_low"], item["gain_high"] = _r(lo[i]), _r(hi[i])
            item["why"] = reasons.get(i, [])
        return items

    def advice(self, items: list[dict[str, Any]], task: str, best_high: float | None = None) -> dict[str, Any]:
        """``interval_level``, ``advice`` ("train" / "skip" / None), ``advice_detail``, ``baseline``.

        The best candidate is the one whose interval reaches highest (the highest predicted gain:
        within a task every interval has the same offsets), so "skip" means that no candidate's
        interval reaches zero gain, even where the ranker orders them differently. Literature
        priors count with their published gain. ``best_high`` overrides (for a report that
        keeps only the top-k items but scored the whole pool).
        """
        if best_high is None:
            highs = [it["gain_high"] if it["basis"] == "model" else it["predicted_gain"] for it in items]
            finite = [h for h in highs if h is not None and math.isfinite(h)]
            best_high = max(finite) if finite else None
        verdict, detail = advice(best_high, task)
        return {"interval_level": self.interval_level(), "advice": verdict, "advice_detail": detail,
                "baseline": {"source_task": task, "source_language": ENGLISH,
                             "source_language_name": language_name(ENGLISH)}}

    def coverage(self, code: str, task: str) -> list[str]:
        return coverage_warnings(code, task, self.measured.get(task, []), self.explainer.lf)
