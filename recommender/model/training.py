"""Runs → a fitted ranker: group the runs into queries, assemble the features, fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from feature_store.features import FeatureBuilder
from feature_store.runs.run import Run
from recommender.model.dataset import TrainingSet, assemble, group_queries
from recommender.model.ranker import TransferRanker


def train_model(runs: Sequence[Run], *, builder: FeatureBuilder | None = None,
                scales: Mapping[tuple[str, str], int] | None = None,
                **params: Any) -> tuple[TransferRanker, TrainingSet]:
    """Fit a ``TransferRanker`` on ``runs`` (in-language sources excluded); returns it and its data."""
    ts = assemble(group_queries(runs, exclude_self=True, scales=scales), builder)
    return TransferRanker(**params).fit(ts), ts


__all__ = ["train_model"]
