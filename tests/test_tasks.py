"""The shipped task registry."""

from __future__ import annotations

import pytest

from feature_store.errors import UnknownTask
from feature_store.tasks import registry

XSTILTS = {"anli", "mnli", "qqp", "squad", "hellaswag", "cosmosqa", "csqa", "ccg", "sst2"}
XTREME = {"xnli", "pawsx", "udpos", "wikiann", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"}
XTREME_R = {"xcopa", "mewslix", "lareqa"}
ME5_MATRIX = {"cola", "rte", "conll2003"}  # English tasks of stepstone's own me5-small matrix
ME5_TARGETS = {"sib200", "masakhaner"}
SHIPPED_INTERMEDIATE = {"xcsqa", "xcodah", "xnli-prompted", "xcopa-prompted", "xstorycloze-prompted",
                        "xwinograd-prompted"}


def test_registry_holds_the_xstilts_xtreme_and_xtreme_r_tasks() -> None:
    reg = registry()
    assert {t.id for t in reg.intermediate()} == XSTILTS | {"mcp"} | ME5_MATRIX
    assert {t.id for t in reg.targets()} == XTREME | XTREME_R | SHIPPED_INTERMEDIATE | ME5_TARGETS


def test_difficulty_is_filled_from_published_english_scores() -> None:
    reg = registry()
    for task in ("xnli", "pawsx", "udpos", "wikiann", "xquad", "mlqa", "tydiqa", "mnli", "squad", "csqa"):
        assert reg.get(task).headroom is not None and "english_score" in reg.get(task).source, task
    assert reg.get("udpos").headroom < reg.get("xnli").headroom < reg.get("tydiqa").headroom


def test_aliases_and_versioned_ids_resolve() -> None:
    reg = registry()
    assert reg.get("udpos_v2.8").id == "udpos"
    assert reg.get("PAN-X").id == "wikiann"
    assert reg.get("TyDiQA-GoldP").id == "tydiqa"
    assert reg.lookup("my_new_task") is None


def test_unknown_task_suggests() -> None:
    with pytest.raises(UnknownTask) as err:
        registry().get("xnl")
    assert "xnli" in err.value.suggestions


def test_difficulty_is_headroom_above_chance() -> None:
    xnli = registry().get("xnli")
    # 3 classes: chance 33.3; base model 89.1 in English → misses 16.35 % of the above-chance range.
    assert xnli.chance == pytest.approx(100 / 3)
    assert xnli.headroom == pytest.approx(1 - (89.1 - 100 / 3) / (100 - 100 / 3))
    assert registry().get("mlqa").headroom == pytest.approx(0.194)
    assert registry().get("qqp").headroom is None


def test_difficulty_is_a_feature_of_both_tasks_on_intermediate_rows(home: object) -> None:
    import math

    from feature_store.features import FEATURE_NAMES, FeatureBuilder, Source

    X = FeatureBuilder().build("tydiqa", "tel", [Source("squad", "eng"), Source("tydiqa", "eng"),
                                                 Source("mcp", "mul")])
    src, tgt = FEATURE_NAMES.index("source_headroom"), FEATURE_NAMES.index("target_headroom")
    assert X[0, src] == pytest.approx(registry().get("squad").headroom)
    assert X[0, tgt] == pytest.approx(registry().get("tydiqa").headroom)
    assert math.isnan(X[1, src]) and math.isnan(X[1, tgt])  # a same-task source: nothing to compare
    assert math.isnan(X[2, FEATURE_NAMES.index("dist_syntactic")])  # several languages: no single distance
