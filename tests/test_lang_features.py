"""Tests for feature_store.lang_features: the URIEL cache, distances and per-language facts."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import numpy as np
import pytest

from feature_store import lang_features
from feature_store.errors import InvalidRequest
from feature_store.lang_features import (
    CACHE_NAME,
    DISTANCES,
    GROUPS,
    LanguageDataMissing,
    LanguageFeatures,
    get_language_features,
)

SAMPLE = ["eng", "spa", "por", "deu", "fra", "jpn", "swa", "swh", "yor", "ara", "zho", "eus", "fin", "hin"]


@pytest.fixture(scope="session")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full cache, built once per test session (about 1-2 s)."""
    path = tmp_path_factory.mktemp("lang_features") / CACHE_NAME
    LanguageFeatures.build(path)
    return path


@pytest.fixture(scope="session")
def features(cache_file: Path) -> LanguageFeatures:
    return LanguageFeatures.load(cache_file)


def test_distances_symmetric_zero_diagonal_in_range(features: LanguageFeatures) -> None:
    m = features.distance_matrix(SAMPLE, SAMPLE)
    assert m.shape == (len(SAMPLE), len(SAMPLE), len(DISTANCES))
    assert not np.isnan(m).any()
    assert np.allclose(m, m.transpose(1, 0, 2), atol=1e-6)
    assert (np.diagonal(m, axis1=0, axis2=1) == 0).all()
    assert ((m >= 0) & (m <= 1)).all()


def test_distances_match_matrix(features: LanguageFeatures) -> None:
    d = features.distances("spa", "jpn")
    assert d.shape == (6,)
    assert np.allclose(d, features.distance_matrix(["spa"], ["jpn"])[0, 0])


def test_plausible_orderings(features: LanguageFeatures) -> None:
    g, geo = DISTANCES.index("genetic"), DISTANCES.index("geographic")
    assert features.distances("spa", "por")[g] < features.distances("spa", "jpn")[g]
    assert features.distances("fra", "deu")[geo] < features.distances("fra", "jpn")[geo]
    swa_swh, swa_eng = features.distances("swa", "swh"), features.distances("swa", "eng")
    assert (swa_swh[:4] < swa_eng[:4]).all()  # the two Swahili codes are typologically close
    assert swa_swh[g] < swa_eng[g] == 1.0  # Atlantic-Congo shares no node with Indo-European


def test_unknown_language_is_nan_not_keyerror(features: LanguageFeatures) -> None:
    assert not features.known("xxx") and features.index("xxx") == -1
    assert features.known("eng") and features.index("eng") >= 0
    assert np.isnan(features.distances("eng", "xxx")).all()
    m = features.distance_matrix(["xxx", "eng"], ["eng", "xxx"])
    assert np.isnan(m[0]).all() and np.isnan(m[:, 1]).all() and (m[1, 0] == 0).all()
    assert features.imputed_fraction("xxx") == dict.fromkeys(GROUPS, 1.0)
    assert features.family("xxx") == "xxx"
    assert features.cc100_log_gib("xxx") == (0.0, False)


def test_macro_codes_have_vectors(features: LanguageFeatures) -> None:
    for code in ("swa", "ara", "zho", "fas", "msa", "est", "lav", "nor"):
        assert features.known(code)
        assert min(features.imputed_fraction(code).values()) < 1.0


def test_macro_borrows_from_individual_when_it_has_no_data() -> None:
    pos = {"est": 0, "ekk": 1}
    groups = {g: np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32) for g in GROUPS}
    missing = np.array([[1.0, 0.5, 1.0], [0.2, 0.1, 1.0]], dtype=np.float32)
    fam = np.array([[False, False], [True, True]])
    lang_features._borrow_for_macros(pos, groups, missing, fam)
    assert groups["syntax"][0].tolist() == [1.0, 0.0] and missing[0, 0] == pytest.approx(0.2)
    assert groups["phonology"][0].tolist() == [0.0, 0.0] and missing[0, 1] == 0.5  # had data: kept
    assert missing[0, 2] == 1.0  # neither has data
    assert fam[0].all()


def test_cc100(features: LanguageFeatures) -> None:
    eng, present = features.cc100_log_gib("eng")
    assert present and eng == pytest.approx(np.log1p(300.8))
    swa, present = features.cc100_log_gib("swa")
    assert present and swa == pytest.approx(np.log1p(1.6))
    assert features.cc100_log_gib("yor") == (0.0, False)
    assert features.cc100_log_gib("zho")[0] == pytest.approx(np.log1p(46.9 + 16.6))  # Hans + Hant


def test_family(features: LanguageFeatures) -> None:
    assert features.family("spa") == features.family("deu") == "Indo-European"
    assert features.family("swa") == "Atlantic-Congo"
    assert features.family("jpn") == "Japonic"
    assert features.family("eus") == "eus"  # isolate


def test_imputed_fraction(features: LanguageFeatures) -> None:
    eng = features.imputed_fraction("eng")
    assert set(eng) == set(GROUPS)
    assert eng["syntax"] < 0.1
    assert features.imputed_fraction("otk")["syntax"] == 1.0


def test_nearest(features: LanguageFeatures) -> None:
    ranked = features.nearest("spa", ["jpn", "xxx", "por", "deu"], "genetic")
    assert [code for code, _ in ranked] == ["por", "deu", "jpn", "xxx"]
    assert np.isnan(ranked[-1][1])
    with pytest.raises(InvalidRequest):
        features.nearest("spa", ["por"], "lexical")


def test_distance_matrix_of_many_sources_matches_pairwise_distances(features: LanguageFeatures) -> None:
    sources = list(features.codes[:100])
    matrix = features.distance_matrix(["swa"], sources)
    assert matrix.shape == (1, 100, 6)
    for j in (0, 50, 99):  # the URIEL vectors are float32: equal to 1e-6
        np.testing.assert_allclose(matrix[0, j], features.distances("swa", sources[j]), atol=1e-6, equal_nan=True)


def test_cache_is_reused(cache_file: Path) -> None:
    before = cache_file.stat().st_mtime_ns
    LanguageFeatures.load(cache_file)
    assert cache_file.stat().st_mtime_ns == before


def test_corrupted_cache_is_rebuilt(cache_file: Path, tmp_path: Path) -> None:
    broken = tmp_path / CACHE_NAME
    shutil.copyfile(cache_file, broken)
    with open(broken, "r+b") as fh:
        fh.truncate(1000)
    assert LanguageFeatures.load(broken).known("eng")
    assert broken.stat().st_size == cache_file.stat().st_size
    broken.write_bytes(b"not a zip file")
    assert LanguageFeatures.load(tmp_path).known("eng")  # a folder means the standard name in it


def test_subset_build(tmp_path: Path) -> None:
    sub = LanguageFeatures.build(tmp_path / "sub.npz", languages=["eng", "spa", "swa", "xxx"])
    assert sub.codes == ("eng", "spa", "swa")
    assert sub.family("spa") == "Indo-European"
    loaded = LanguageFeatures.load(tmp_path / "sub.npz")
    assert np.allclose(loaded.distances("eng", "swa"), sub.distances("eng", "swa"))


def test_process_wide_instance_uses_stepstone_home(
        cache_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSTONE_HOME", str(tmp_path))
    (tmp_path / "cache").mkdir()
    shutil.copyfile(cache_file, tmp_path / "cache" / CACHE_NAME)
    first = get_language_features()
    assert first is get_language_features()
    assert first.known("swa")


def test_missing_lang2vec_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
    with pytest.raises(LanguageDataMissing, match="lang2vec"):
        LanguageFeatures.build(tmp_path / "x.npz")
