"""Held-out evaluation of the intermediate decision: the model an answer uses, and its rivals.

An intermediate query is a target task × language whose candidates include intermediate tasks
(a source of another task than the target) and, as "no intermediate step", the target task's own
English training set (gain 0). Inside each fold of ``crossval`` the methods below rank a held-out
query's candidates from the training queries only:

- ``neighbours`` — the nearest-language model that answers ``recommend --candidates
  intermediate`` (``answers.neighbours``): gains on the K nearest measured languages, weighted
  by a mean of four URIEL distances.
- ``nearest_language_<distance>`` — the distance rules for this decision: take each candidate's
  gain on the one measured language nearest to the target under that URIEL distance. (The
  source-language rules ``nearest_<distance>`` tie here: every intermediate task is English.)

``best_on_average`` (the mean over the training languages, no linguistic information) and
``random`` come from ``baselines`` and see the same folds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from feature_store.lang_features import DISTANCES, LanguageFeatures
from feature_store.tasks import canonical_task
from recommender.answers.neighbours import NEIGHBOUR_DISTANCES, TaskRuns, task_runs
from recommender.model.dataset import Query

RULES: tuple[str, ...] = tuple(f"nearest_language_{d}" for d in NEIGHBOUR_DISTANCES)
METHODS: tuple[str, ...] = ("neighbours", *RULES)


def is_intermediate_query(query: Query) -> bool:
    """Does the query rank intermediate tasks (sources of another task than the target)?"""
    return any(canonical_task(s.task) != query.task_id for s in query.sources)


class IntermediateMethods:
    """The methods above, fitted on one fold's training queries."""

    def __init__(self, train: Sequence[Query], lf: LanguageFeatures) -> None:
        self.runs = task_runs(train)
        self.lf = lf

    def predictions(self, query: Query) -> dict[str, np.ndarray]:
        """Predicted gain per candidate of ``query`` for every method (empty if the task has no runs)."""
        runs = self.runs.get(query.task_id)
        if runs is None or not is_intermediate_query(query):
            return {}
        out = {"neighbours": self._on_query(runs, query, runs.predict(self.lf, query.target_language))}
        for d, name in zip(NEIGHBOUR_DISTANCES, RULES, strict=True):
            gain = runs.predict(self.lf, query.target_language, cols=(DISTANCES.index(d),), k=1)
            out[name] = self._on_query(runs, query, gain)
        return out

    @staticmethod
    def _on_query(runs: TaskRuns, query: Query, gain: np.ndarray) -> np.ndarray:
        """Gains in the query's candidate order: 0 for no intermediate step, NaN for the unmeasured."""
        index = {(s.task, s.language, s.size): j for j, s in enumerate(runs.sources)}
        out = np.full(len(query.sources), np.nan)
        for i, s in enumerate(query.sources):
            if canonical_task(s.task) == query.task_id:
                out[i] = 0.0 if s.language == "eng" else math.nan
            elif (j := index.get((s.task, s.language, s.size))) is not None:
                out[i] = gain[j]
        return out


COLUMNS: tuple[str, ...] = ("ndcg@3", "top1_loss_pct", "regret@1", "spearman")


def table_rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per method: its metrics on every held-out query, then top-1 loss and ndcg@3 on the
    low-resource ones."""
    rows = []
    for name, m in summary["methods"].items():
        low = m.get("low_resource") or {}
        rows.append(
            [name, *(_cell(m.get(k)) for k in COLUMNS), _cell(low.get("top1_loss_pct")), _cell(low.get("ndcg@3"))]
        )
    return rows


def markdown_lines(setting: dict[str, Any]) -> list[str]:
    """The intermediate decision's section of ``stepstone evaluate --format md`` for one setting."""
    summary = setting.get("intermediate")
    if not summary:
        return []
    header = ["method", *COLUMNS, "low-resource top1_loss_pct", "low-resource ndcg@3"]
    lines = [
        "",
        f"### Intermediate decision: {summary['queries']} held-out queries "
        f"({summary['low_resource_queries']} low-resource)",
        "",
        "`neighbours` is the model that answers `recommend --candidates intermediate`; "
        "`no_intermediate` always skips the intermediate step.",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(summary)]
    return lines


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


__all__ = [
    "COLUMNS",
    "IntermediateMethods",
    "METHODS",
    "RULES",
    "is_intermediate_query",
    "markdown_lines",
    "table_rows",
]
