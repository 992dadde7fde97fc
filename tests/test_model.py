"""The ranker estimator and the model registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from feature_store.errors import ModelCorrupted, NoModel
from feature_store.runs.seed import shipped_runs
from recommender.model.dataset import group_queries, relevance
from recommender.model.ranker import TransferRanker
from recommender.model.ranks import percentiles
from recommender.model.registry import ModelRegistry
from recommender.model.training import train_model


@pytest.fixture(scope="module")
def fitted() -> tuple[TransferRanker, object]:
    runs = [r for r in shipped_runs() if r.target_task == "xnli"]
    return train_model(runs, n_estimators=30)


def test_relevance_is_langrank_style() -> None:
    scores = np.array([5.0, 9.0, 1.0, 7.0])
    assert list(relevance(scores, top=3)) == [1, 3, 0, 2]
    assert list(percentiles(np.array([1.0, 3.0, 2.0]))) == [0.0, 1.0, 0.5]


def test_queries_exclude_self_and_carry_baselines() -> None:
    queries = group_queries([r for r in shipped_runs() if r.target_task == "xnli"])
    assert len(queries) == 15
    for q in queries:
        assert all(s.language != q.target_language for s in q.sources)
        assert q.baseline is not None and 50 < q.baseline < 100  # 0-1 scores are put in points


def test_unfitted_model_refuses_to_predict() -> None:
    with pytest.raises(NoModel):
        TransferRanker().score(np.zeros((1, 3)))


def test_save_load_round_trip_predicts_the_same(tmp_path: Path, fitted: tuple) -> None:
    model, ts = fitted
    Z = model.design(ts.X[:14], ts.queries[0].target_task, ts.queries[0].sources)
    model.save(tmp_path)
    again = TransferRanker.load(tmp_path)
    assert np.allclose(again.score(Z), model.score(Z))
    assert np.allclose(again.predict_gain(Z), model.predict_gain(Z))


def test_registry_versions_current_pointer_and_no_pickle(tmp_path: Path, fitted: tuple) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(NoModel, match="stepstone retrain"):
        reg.load()
    v1 = reg.register(fitted[0], {"fingerprint": "x"})
    v2 = reg.register(fitted[0], {"fingerprint": "y"}, activate=False)
    assert (v1, v2) == ("v0001", "v0002")
    assert reg.current() == "v0001"
    meta = reg.meta(v1)
    assert {"feature_names", "created_at", "libraries", "files", "fingerprint"} <= set(meta)
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    reg.activate(v2)
    assert reg.load().version == "v0002"


def test_tampered_model_file_is_refused(tmp_path: Path, fitted: tuple) -> None:
    reg = ModelRegistry(tmp_path)
    version = reg.register(fitted[0], {})
    ranker = tmp_path / "versions" / version / "ranker.txt"
    ranker.write_text(ranker.read_text().replace("learning_rate", "learning_rate ", 1))
    with pytest.raises(ModelCorrupted, match="ranker.txt does not match its checksum"):
        reg.load(version)
    meta_path = tmp_path / "versions" / version / "meta.json"
    meta_path.write_text("{not json")
    with pytest.raises(ModelCorrupted, match="not valid JSON"):
        reg.load(version)
    assert (tmp_path / "current").read_text().strip() == version  # the pointer is left alone
