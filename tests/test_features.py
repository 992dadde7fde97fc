"""The per-query feature matrix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from feature_store.features import FEATURE_GROUPS, FEATURE_NAMES, FeatureBuilder, Source


@pytest.fixture(scope="module")
def builder() -> FeatureBuilder:
    return FeatureBuilder()


def col(X: np.ndarray, name: str) -> np.ndarray:
    return X[:, FEATURE_NAMES.index(name)]


def test_shape_and_groups_cover_every_column(builder: FeatureBuilder) -> None:
    X = builder.build("xnli", "swa", [Source("xnli", "eng"), Source("mnli", "eng"), Source("xnli", "ara")])
    assert X.shape == (3, len(FEATURE_NAMES))
    assert sorted(n for g in FEATURE_GROUPS.values() for n in g) == sorted(FEATURE_NAMES)


def test_task_and_language_features(builder: FeatureBuilder) -> None:
    X = builder.build("xnli", "swa", [Source("xnli", "eng"), Source("mnli", "eng"), Source("squad", "eng"),
                                      Source("xnli", "ara", 1000.0)])
    assert list(col(X, "same_task")) == [1, 0, 0, 1]
    assert list(col(X, "same_format")) == [1, 1, 0, 1]  # mnli is pair classification like xnli
    assert list(col(X, "source_is_english")) == [1, 1, 1, 0]
    # for an English source, the source↔target distance is the target↔English distance
    assert col(X, "dist_syntactic")[0] == pytest.approx(col(X, "target_eng_syntactic")[0])
    assert col(X, "closer_than_eng_genetic")[0] == pytest.approx(0.0)
    assert col(X, "log_source_size")[3] == pytest.approx(math.log10(1001))
    assert list(col(X, "source_size_missing")) == [1, 1, 1, 0]
    assert col(X, "target_cc100_present")[0] == 1  # Swahili is in CC-100


def test_unknown_tasks_and_languages_give_missing_values_not_errors(builder: FeatureBuilder) -> None:
    X = builder.build("my_task", "hyw", [Source("other_task", "eng"), Source("a+b", "deu")])
    assert np.isnan(col(X, "same_format")).all()
    assert list(col(X, "source_task_known")) == [0, 0]
    assert list(col(X, "n_source_tasks")) == [1, 2]
    assert list(col(X, "target_uriel_missing")) == [1, 1]  # Western Armenian has no URIEL vectors
    assert np.isnan(col(X, "dist_syntactic")).all()


def test_empty_candidate_list(builder: FeatureBuilder) -> None:
    assert builder.build("xnli", "swa", []).shape == (0, len(FEATURE_NAMES))
