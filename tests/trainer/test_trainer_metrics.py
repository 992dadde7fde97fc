"""The metrics against hand-computed cases of the scripts they follow (no model involved)."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.data import metrics, mining


def test_squad_v11_rules() -> None:
    scores = metrics.squad({"a": "The Cat", "b": "big red house"}, {"a": ["cat"], "b": ["red house", "x"]})
    assert scores == {"exact_match": 50.0, "f1": pytest.approx(100 * (1 + 0.8) / 2)}
    assert metrics.squad({"a": ""}, {"a": ["cat"]}) == {"f1": 0.0, "exact_match": 0.0}
    assert metrics.squad({}, {"a": ["cat"]})["f1"] == 0.0  # a missing prediction is an empty answer
    assert metrics.squad({"a": "«Paris»"}, {"a": ["Paris"]})["exact_match"] == 0.0  # ASCII punctuation only


def test_mlqa_rules_differ_from_squad_where_mlqa_says() -> None:
    # Chinese: every CJK character is a token, so a partial answer gets partial credit.
    assert metrics.mlqa({"q": "北京大学"}, {"q": ["北京"]}, "zh")["f1"] == pytest.approx(66.6667, abs=1e-3)
    assert metrics.squad({"q": "北京大学"}, {"q": ["北京"]})["f1"] == 0.0
    # Unicode punctuation and per-language articles.
    assert metrics.mlqa({"q": "«Paris»"}, {"q": ["Paris"]}, "en")["exact_match"] == 100.0
    assert metrics.mlqa({"q": "la casa"}, {"q": ["casa"]}, "es")["exact_match"] == 100.0
    assert metrics.squad({"q": "la casa"}, {"q": ["casa"]})["f1"] == pytest.approx(66.6667, abs=1e-3)
    assert metrics.mlqa({"q": "der Hund"}, {"q": ["Hund"]}, "de")["exact_match"] == 100.0
    assert metrics.mlqa_normalize("Hello, World!", "hi") == "hello world"


def test_tagging_is_seqeval_f1_and_accuracy_apart() -> None:
    # seqeval's default mode reads a tag's first character as its prefix: a run of NOUNs is one chunk.
    pos = metrics.tagging([["NOUN", "VERB", "VERB"]], [["NOUN", "NOUN", "VERB"]])
    assert pos["f1"] == 0.0 and pos["accuracy"] == pytest.approx(66.6667, abs=1e-3)
    assert metrics.tagging([["NOUN", "VERB"]], [["NOUN", "VERB"]]) == {"f1": 100.0, "accuracy": 100.0}
    ner = metrics.tagging([["B-PER", "I-PER", "O", "O"]], [["B-PER", "I-PER", "O", "B-LOC"]])
    assert ner["f1"] == pytest.approx(100 * 2 * 1 * 0.5 / 1.5) and ner["accuracy"] == 75.0


def test_seqeval_itself_agrees() -> None:
    from seqeval.metrics import f1_score

    gold = [["ADJ", "NOUN", "NOUN", "PUNCT"], ["B-LOC", "I-LOC", "O"]]
    pred = [["ADJ", "NOUN", "VERB", "PUNCT"], ["B-LOC", "O", "O"]]
    with pytest.warns(UserWarning):  # seqeval says POS tags do not look like NE tags; it scores them anyway
        expected = 100 * f1_score(gold, pred)
    assert metrics.tagging(pred, gold)["f1"] == pytest.approx(expected)


def test_chance_levels() -> None:
    assert metrics.chance_score("pair", "accuracy", [0, 0, 0, 1]) == 75.0
    assert metrics.chance_score("mc", "accuracy", [0, 1], n_choices=4) == 25.0
    assert metrics.chance_score("tagging", "f1", [["NOUN", "VERB", "NOUN"]]) == 0.0  # NOUN NOUN... vs gold chunks
    assert metrics.near_chance(9.8, 5.0) and not metrics.near_chance(71.1, 5.0)


def test_blockwise_knn_matches_the_dense_matrix() -> None:
    rng = np.random.default_rng(0)
    x, y = metrics.normalize_rows(rng.normal(size=(11, 5))), metrics.normalize_rows(rng.normal(size=(13, 5)))
    sims, idx = mining.knn(x, y, 4, block=3)
    dense = x @ y.T
    assert (idx == np.argsort(-dense, axis=1)[:, :4]).all()
    assert np.allclose(sims, np.sort(dense, axis=1)[:, ::-1][:, :4])


def _bitext(rng: np.random.Generator, n_pairs: int, n_noise: int, dim: int = 64) -> tuple[np.ndarray, np.ndarray]:
    base = rng.normal(size=(n_pairs, dim))
    src = np.vstack([base + 0.05 * rng.normal(size=base.shape), rng.normal(size=(n_noise, dim))])
    tgt = np.vstack([base + 0.05 * rng.normal(size=base.shape), rng.normal(size=(n_noise, dim))])
    return src, tgt


def test_bucc_margin_mining_is_one_to_one_and_threshold_comes_from_dev() -> None:
    rng = np.random.default_rng(1)
    gold = {(i, i) for i in range(20)}
    dev_src, dev_tgt = _bitext(rng, 20, 30)
    dev = mining.candidates(dev_src, dev_tgt, [f"d{i}" for i in range(50)], [f"e{i}" for i in range(50)])
    assert len({a for a, _ in dev}) == len(dev) == len({b for _, b in dev})  # one-to-one
    threshold, dev_f1 = mining.best_threshold(dev, gold)
    assert dev_f1 == 100.0 and threshold > 1.0  # true pairs stand out from their neighbours by the margin
    test_src, test_tgt = _bitext(rng, 20, 30)
    test = mining.candidates(test_src, test_tgt, [f"s{i}" for i in range(50)], [f"t{i}" for i in range(50)])
    assert mining.f1_at(test, gold, threshold)["f1"] == 100.0


def test_duplicate_sentences_are_embedded_once_and_expanded() -> None:
    rng = np.random.default_rng(2)
    src, tgt = _bitext(rng, 5, 0)
    src = np.vstack([src, src[:1]])  # sentence 5 repeats sentence 0
    cands = mining.candidates(src, tgt, ["a", "b", "c", "d", "e", "a"], ["v", "w", "x", "y", "z"])
    assert cands[(0, 0)] == cands[(5, 0)]


def test_retrieval_accuracy() -> None:
    src = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tgt = np.array([[0.0, 2.0], [3.0, 0.1]])
    assert metrics.retrieval_accuracy(src, tgt, [(0, 1), (1, 0)]) == 100.0


def test_a_scores_sampling_error_is_a_bootstrap_over_examples_that_rebuilds_the_metric_exactly() -> None:
    """Summed per-sentence parts give seqeval's F1 and token accuracy exactly, so the bootstrap's
    error is the spread of the real metric; it shrinks as 1/sqrt(n) and is fixed for fixed input."""
    from trainer.data import sampling

    rng = np.random.default_rng(3)
    tags = ["NOUN", "VERB", "ADJ", "DET"]
    gold = [[str(rng.choice(tags)) for _ in range(int(rng.integers(3, 12)))] for _ in range(400)]
    pred = [[t if rng.random() < 0.8 else str(rng.choice(tags)) for t in s] for s in gold]
    parts = sampling.tagging_parts(pred, gold)
    total = parts.sum(axis=0)
    scores = metrics.tagging(pred, gold)
    assert 100 * 2 * total[0] / (total[1] + total[2]) == pytest.approx(scores["f1"], abs=1e-9)
    assert 100 * total[3] / total[4] == pytest.approx(scores["accuracy"], abs=1e-9)
    se = sampling.tagging_se(pred, gold)
    assert se == sampling.tagging_se(pred, gold)  # deterministic
    assert 0.5 < se["f1_se"] < 4 and 0.3 < se["accuracy_se"] < 3
    quarter = sampling.tagging_se(pred[:100], gold[:100])
    assert quarter["f1_se"] / se["f1_se"] == pytest.approx(2.0, rel=0.35)
    assert np.isnan(sampling.tagging_se(pred[:1], gold[:1])["f1_se"])  # one sentence: no spread to measure


def test_label_and_qa_errors_follow_their_metrics() -> None:
    from trainer.data import sampling

    right = [1] * 80 + [0] * 20
    se = sampling.labels_se(right, [1] * 100, two_class=False)["accuracy_se"]
    assert se == pytest.approx(100 * (0.8 * 0.2 / 100) ** 0.5, rel=0.15)  # the binomial error
    labels = [0, 1] * 50
    assert sampling.labels_se(labels, labels, two_class=True)["mcc_se"] == 0.0  # always perfect
    noisy = sampling.labels_se([1 - x if i % 5 == 0 else x for i, x in enumerate(labels)], labels, two_class=True)
    assert noisy["mcc_se"] > 3
    parts = metrics.qa_parts({"a": "the cat", "b": "dog", "c": ""}, {"a": ["cat"], "b": ["red dog"], "c": ["x"]},
                             metrics.squad_normalize)
    assert parts.tolist() == [[1.0, 1.0], [pytest.approx(2 / 3), 0.0], [0.0, 0.0]]
    assert metrics.qa_means(parts) == pytest.approx({"f1": 100 * (5 / 3) / 3, "exact_match": 100 / 3})
    assert sampling.qa_se(parts)["exact_match_se"] > 10 and np.isnan(sampling.qa_se(parts[:1])["f1_se"])
