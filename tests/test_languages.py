"""Tests for feature_store.languages: every way of naming a language resolves to one code."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest

from feature_store.errors import NotALanguage, UnknownLanguage
from feature_store.languages import MACRO_OF, language_name, resolve, resolve_target, script_note

DATA = Path(__file__).resolve().parent.parent / "feature_store" / "data"
TRANSFER_FILES = ("langrankplus_xtreme_xlmr.csv", "devries2022_udpos_xlmr_base.csv")


@pytest.mark.parametrize(
    "value", ["sw", "swa", "swh", "Swahili", "swahili", "SWAHILI", "sw-KE", "SW", " sw "])
def test_every_form_of_swahili_is_swa(value: str) -> None:
    assert resolve(value) == "swa"


@pytest.mark.parametrize(("value", "expected"), [
    ("arb", "ara"), ("ar", "ara"), ("cmn", "zho"), ("zh", "zho"), ("zh-Hans", "zho"), ("Mandarin", "zho"),
    ("pes", "fas"), ("Farsi", "fas"), ("zsm", "msa"), ("ekk", "est"), ("lvs", "lav"), ("khk", "mon"),
    ("uzn", "uzb"), ("azj", "aze"), ("plt", "mlg"), ("ydd", "yid"), ("gaz", "orm"), ("npi", "nep"),
    ("nb", "nor"), ("no", "nor"), ("en-US", "eng"), ("German", "deu"), ("Ancient Greek", "grc"),
])
def test_macro_and_alias_folding(value: str, expected: str) -> None:
    assert resolve(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("tl", "tgl"), ("tgl", "tgl"), ("iw", "heb"), ("in", "ind")])
def test_iso_mapping_not_cldr_aliases(value: str, expected: str) -> None:
    """CLDR would turn tl/tgl into fil; the data (and ISO 639-2) use tgl."""
    assert resolve(value) == expected


@pytest.mark.parametrize(
    "code", ["aii", "otk", "grc", "fro", "gsw", "hyw", "yue", "lzh", "kmr", "ajp", "nno"])
def test_individual_codes_pass_through(code: str) -> None:
    assert resolve(code) == code


def test_macro_table_targets_are_fixed_points() -> None:
    for macro in set(MACRO_OF.values()):
        assert resolve(macro) == macro


def test_every_transfer_language_resolves_to_itself() -> None:
    """All codes in the shipped transfer files are canonical, except swh (TyDiQA), folded into swa."""
    codes: set[str] = set()
    for name in TRANSFER_FILES:
        with open(DATA / name, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                codes.update((row["target_language"], row["source_language"]))
    assert len(codes) > 100
    moved = {code: resolve(code) for code in codes if resolve(code) != code}
    assert moved == {"swh": "swa"}


def test_fuzzy_names_are_rejected_with_suggestions() -> None:
    with pytest.raises(UnknownLanguage) as err:
        resolve("Klingonx")
    assert err.value.value == "Klingonx"
    assert "tlh (Klingon)" in err.value.suggestions


def test_typo_suggests_the_language() -> None:
    with pytest.raises(UnknownLanguage) as err:
        resolve("Swahilli")
    assert err.value.suggestions[0] == "swa (Swahili)"
    assert "did you mean swa (Swahili)" in str(err.value)


@pytest.mark.parametrize("value", ["", "   ", "xyz", "qqq", "x-private", "not a language at all"])
def test_unknown_inputs_raise(value: str) -> None:
    with pytest.raises(UnknownLanguage) as err:
        resolve(value)
    assert len(err.value.suggestions) <= 3


def test_language_name() -> None:
    assert language_name("swa") == "Swahili"
    assert language_name("tgl") == "Tagalog"
    assert language_name("aii") == "Assyrian Neo-Aramaic"
    assert language_name("xyz") == "xyz"


def test_cached_calls_are_fast() -> None:
    values = ["swh", "Swahili", "eng", "sw-KE", "deu"]
    for v in values:
        resolve(v)
    start = time.perf_counter()
    for _ in range(1400):
        for v in values:
            resolve(v)
    assert time.perf_counter() - start < 0.05  # 7,000 cached calls


@pytest.mark.parametrize("code", ["zxx", "mis", "und", "qaa", "qtz", "QAB", "zxx-Latn", "und-KE"])
def test_codes_that_name_no_language_are_refused(code: str) -> None:
    with pytest.raises(NotALanguage, match=f"{code!r} is not a language here"):
        resolve(code)


def test_mul_is_a_source_but_not_a_target() -> None:
    assert resolve("mul") == "mul"
    with pytest.raises(NotALanguage, match="only a source language"):
        resolve_target("mul")
    assert resolve_target("sw") == "swa"


@pytest.mark.parametrize(("tag", "note"), [
    ("sw-Arab", "'sw-Arab': script Arab is not kept; runs and features are per language (swa)"),
    ("zh-Hant", "'zh-Hant': script Hant is not kept; runs and features are per language (zho)"),
    ("zh-Hans", None), ("sw", None), ("sw-KE", None), ("xyz-Arab", None),
])
def test_a_folded_script_subtag_is_noted(tag: str, note: str | None) -> None:
    assert script_note(tag) == note


def test_repeated_unknown_names_are_cheap() -> None:
    """The difflib suggestions (~20 ms) are cached with the answer; the error is rebuilt each time."""
    with pytest.raises(UnknownLanguage) as first:
        resolve("Swahilli")
    start = time.perf_counter()
    for _ in range(2000):
        with pytest.raises(UnknownLanguage) as again:
            resolve("Swahilli")
    assert time.perf_counter() - start < 0.5
    assert again.value.suggestions == first.value.suggestions and again.value is not first.value


def test_over_long_input_is_refused_before_any_lookup() -> None:
    start = time.perf_counter()
    for i in range(200):
        with pytest.raises(UnknownLanguage) as err:
            resolve(f"{i}" + "x" * 60_000)
        assert err.value.suggestions == []
    assert time.perf_counter() - start < 0.5


def test_long_unknown_inputs_get_no_suggestions() -> None:
    with pytest.raises(UnknownLanguage) as err:
        resolve("Swahili" + "x" * 40)
    assert err.value.suggestions == []


@pytest.mark.parametrize("value", ["not-a-language", "en-x-abc", "fra-a-foo", "sw_x_y"])
def test_a_tag_with_an_extension_or_private_use_names_no_language(value: str) -> None:
    with pytest.raises(UnknownLanguage):
        resolve(value)


@pytest.mark.parametrize("typo", ["Swahilli", "germn", "hindy", "frnch", "Englsh", "portugese", "swx", "yrb",
                                  "Kiswahili", "bahasa indonesa"])
def test_indexed_suggestions_are_the_ones_difflib_finds_over_every_name(typo: str) -> None:
    import difflib

    from feature_store import languages

    names, codes = languages._suggestion_pool()
    key = languages._normalise_name(typo)
    everywhere = difflib.get_close_matches(key, list(names), n=9, cutoff=0.75)
    assert difflib.get_close_matches(key, languages._near_names(key), n=9, cutoff=0.75) == everywhere
    if len(key) <= 3:
        assert difflib.get_close_matches(key, languages._near_codes(key), n=9, cutoff=0.6) == \
            difflib.get_close_matches(key, list(codes), n=9, cutoff=0.6)
