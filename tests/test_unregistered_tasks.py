"""A target task outside the task registry: its runs train the ranker, which still ranks it well.

The fixture is real transfer data under ids ``feature_store/data/tasks.toml`` does not hold: the
shipped UD-POS runs (de Vries et al. 2022, XLM-R base) as ``pos_unreg``, and the shipped XQuAD and
TyDiQA runs as ``extqa_unreg`` and ``infoqa_unreg``, next to XNLI under its registered id.
``bench/unregistered_tasks.py`` measures the same under leave-one-language-out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest

from feature_store.runs.run import Run
from feature_store.runs.seed import shipped_runs
from feature_store.tasks import registry
from recommender.evaluation.metrics import ndcg_at_3
from recommender.model.dataset import assemble, group_queries
from recommender.model.ranker import TransferRanker

RENAMES = {"udpos_v2.8": "pos_unreg", "xquad": "extqa_unreg", "tydiqa": "infoqa_unreg"}
HELD_OUT_FOLDS = 4
# Mean held-out NDCG@3 of the renamed UD-POS runs over the four folds below: 0.477 with the trees
# alone (as a task outside the registry was ranked before the task vocabulary moved into the
# model), 0.434 with a per-task blend tuned on its own queries. The bar sits between the two.
UDPOS_BAR = 0.46


@pytest.fixture(scope="module", autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A private $STEPSTONE_HOME for the language-feature cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPSTONE_HOME", str(tmp_path_factory.mktemp("home")))
        yield


def _renamed(runs: list[Run]) -> list[Run]:
    return [replace(r, target_task=RENAMES.get(r.target_task, r.target_task),
                    source_task=RENAMES.get(r.source_task, r.source_task), dataset=f"lab:{r.dataset}")
            for r in runs]


def test_the_fixture_ids_are_outside_the_registry() -> None:
    assert all(registry().lookup(task) is None for task in RENAMES.values())


def test_unregistered_task_is_ranked_for_held_out_languages_as_before() -> None:
    runs = _renamed([r for r in shipped_runs() if r.target_task == "udpos_v2.8"])
    queries = group_queries(runs)
    ts = assemble(queries)
    languages = sorted({q.target_language for q in queries})
    ndcg = []
    for fold in range(HELD_OUT_FOLDS):
        held = set(languages[fold::HELD_OUT_FOLDS])
        model = TransferRanker().fit(ts.subset([i for i, q in enumerate(queries) if q.target_language not in held]))
        for i, q in enumerate(queries):
            if q.target_language in held:
                ndcg.append(ndcg_at_3(q.scores, model.score(model.design(ts.X[ts.rows(i)], q.target_task, q.sources))))
    assert len(ndcg) == len(languages) > 100
    assert float(np.mean(ndcg)) >= UDPOS_BAR


def test_unregistered_tasks_get_the_trees_alone_and_registered_ones_keep_their_blend() -> None:
    runs = _renamed([r for r in shipped_runs() if r.target_task in ("xnli", "xquad", "tydiqa")])
    queries = group_queries(runs)
    ts = assemble(queries)
    model = TransferRanker(n_estimators=30).fit(ts)
    assert set(model.ranker_.blend["tasks"]) == {"xnli"}
    assert not {"extqa_unreg", "infoqa_unreg"} & set(model.vocabularies_["target_task"])
    for i, q in enumerate(queries):
        Z = model.design(ts.X[ts.rows(i)], q.target_task, q.sources)
        trees = model.ranker_.booster.predict(Z, num_threads=1)
        if q.task_id == "xnli":
            assert not np.allclose(model.score(Z), trees)
        else:
            np.testing.assert_allclose(model.score(Z), trees)
            # the explanation still sums to the score
            np.testing.assert_allclose(model.ranker_.predict(Z, pred_contrib=True).sum(axis=1), model.score(Z))
