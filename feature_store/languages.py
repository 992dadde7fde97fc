"""Normalise every way of naming a language to the one ISO 639-3 code stepstone uses.

Runs, queries and features all key languages by the code that lang2vec and the shipped data
use: ISO 639-3, with a macrolanguage and its dominant individual language folded into the
*macro* code (``swh`` and ``sw`` are both ``swa``). ``resolve`` is called at every edge (CLI,
API, run import), thousands of times per import, so it is cached; it never imports lang2vec.

    >>> resolve("sw-KE"), resolve("Swahili"), resolve("swh")
    ('swa', 'swa', 'swa')
"""

from __future__ import annotations

import difflib
import functools
from collections import Counter, defaultdict

from langcodes import Language
from langcodes.tag_parser import LanguageTagError

from feature_store.errors import NotALanguage, UnknownLanguage

# Individual language -> the macrolanguage code the shipped data and lang2vec's letter codes use.
# ISO 639-3 lists these as the dominant member of the macrolanguage; CC-100, XTREME and
# lang2vec's 2-letter table (sw -> swa, ar -> ara, zh -> zho) all key them by the macro code, so
# keeping both would split one language's runs and features in two. Other members (e.g. Arabic
# dialects ``ajp``, ``ary``; ``yue``; ``kmr``; ``nno``) are distinct enough to keep their own code.
MACRO_OF: dict[str, str] = {
    "swh": "swa",  # Swahili (individual) -> Swahili
    "arb": "ara",  # Standard Arabic -> Arabic
    "cmn": "zho",  # Mandarin Chinese -> Chinese
    "pes": "fas",  # Iranian Persian -> Persian
    "zsm": "msa",  # Standard Malay -> Malay
    "zlm": "msa",  # Malay (individual) -> Malay
    "ekk": "est",  # Standard Estonian -> Estonian
    "lvs": "lav",  # Standard Latvian -> Latvian
    "khk": "mon",  # Halh Mongolian -> Mongolian
    "uzn": "uzb",  # Northern Uzbek -> Uzbek
    "azj": "aze",  # North Azerbaijani -> Azerbaijani
    "plt": "mlg",  # Plateau Malagasy -> Malagasy
    "ydd": "yid",  # Eastern Yiddish -> Yiddish
    "gaz": "orm",  # West Central Oromo -> Oromo
    "npi": "nep",  # Nepali (individual) -> Nepali
    "nob": "nor",  # Norwegian Bokmål -> Norwegian
    "als": "sqi",  # Tosk Albanian -> Albanian
    "ory": "ori",  # Odia (individual) -> Oriya
    "pbu": "pus",  # Northern Pashto -> Pashto
    "gug": "grn",  # Paraguayan Guaraní -> Guarani
    "mol": "ron",  # Moldavian (retired code) -> Romanian
}

# Codes whose CLDR alias points at a different language than ISO's (tgl -> fil, hbs -> sr-Latn).
_NAME_OVERRIDES: dict[str, str] = {"tgl": "Tagalog", "hbs": "Serbo-Croatian"}

_NAME_TRIE = "trie/en/name_to_language.marisa"


@functools.lru_cache(maxsize=1)
def _name_trie() -> object:
    """langcodes' English name -> code trie (normalised names), loaded once (a few ms)."""
    from language_data.names import load_trie
    from language_data.util import data_filename

    return load_trie(data_filename(_NAME_TRIE))


def _normalise_name(text: str) -> str:
    from language_data.names import normalize_name

    return str(normalize_name(text))


def _code_from_tag(text: str) -> str | None:
    """The folded ISO 639-3 code of a BCP 47 tag or bare code, or None when it is not one.

    ``normalize=False`` keeps ISO's own 639-1 -> 639-3 mapping: CLDR's aliases would turn
    ``tl``/``tgl`` into ``fil`` and ``sh`` into ``srp``, which the data does not do.
    """
    # A singleton subtag opens an extension or private use (``not-a-language``, ``en-x-abc``):
    # whatever follows is no part of a language, so such a value names none we can key runs by.
    if any(len(part) == 1 for part in text.replace("_", "-").split("-")[1:]):
        return None
    try:
        lang = Language.get(text, normalize=False)
    except (LanguageTagError, ValueError):
        return None
    if not lang.language or len(lang.language) > 3 or _special(lang.language):
        return None
    if not Language.get(lang.language).is_valid():  # normalised: IANA lists "sw", not "swa"
        return None
    code = lang.to_alpha3()
    return MACRO_OF.get(code, code)


def _code_from_name(text: str) -> str | None:
    """The code of an English language name that matches exactly (case-insensitively).

    ``langcodes.find`` accepts any name with a known 4+ letter prefix ('Klingonx' -> tlh);
    a typo should be an error with suggestions, so only an exact trie key counts.
    """
    trie = _name_trie()
    key = _normalise_name(text)
    if not key or key not in trie:  # type: ignore[operator]
        return None
    tag = trie[key][0].decode("utf-8")  # type: ignore[index]
    return _code_from_tag(tag)


# Longer inputs are never language names or tags; they are refused before any cache or index.
MAX_INPUT = 64
# Suggestions (difflib over ~12k names, tens of ms) only for inputs a typo could produce.
MAX_SUGGEST = 32

# ISO 639 codes that name no language. ``mul`` (multiple languages) is kept apart: it is a
# legitimate *source* language (a multilingual intermediate set), never a target language.
SPECIAL_CODES: dict[str, str] = {
    "zxx": "no linguistic content",
    "mis": "an uncoded language",
    "und": "an undetermined language",
}
MULTIPLE = "mul"


def _special(code: str) -> str | None:
    code = code.lower()
    if code in SPECIAL_CODES:
        return SPECIAL_CODES[code]
    if len(code) == 3 and "qaa" <= code <= "qtz":
        return "ISO's private-use range (qaa–qtz)"
    return None


def resolve(value: str) -> str:
    """Normalise a code, tag or English name to stepstone's ISO 639-3 code.

    Accepts ``sw``, ``SW``, ``swa``, ``swh``, ``sw-KE``, ``Swahili``, ``swahili`` (all
    ``swa``). Raises ``UnknownLanguage`` with up to three close matches otherwise, and
    ``NotALanguage`` for the ISO codes that name no language (``zxx``, ``mis``, ``und``,
    ``qaa``–``qtz``). ``mul`` resolves (a multilingual intermediate set is a valid *source*);
    ``resolve_target`` refuses it.

    A script subtag is folded into the language (``sw-Arab`` is ``swa``): features are per
    language, so a code per script would have none. ``script_note`` says when that happens.

    Every answer is cached, unknown inputs (with their difflib suggestions) included, so repeated
    junk costs a dictionary lookup; inputs over ``MAX_INPUT`` characters are refused uncached.
    """
    if not isinstance(value, str):
        raise UnknownLanguage(repr(value), [])
    text = value.strip()
    # Control characters, lone surrogates and very long strings are never language names, and
    # the name index (a marisa trie) cannot take NUL or surrogates.
    if not text or len(text) > MAX_INPUT or not text.isprintable():
        raise UnknownLanguage(value, [])
    code, reason, suggestions = _resolve(text)
    if code is not None:
        return code
    if reason is not None:
        raise NotALanguage(value, reason)
    raise UnknownLanguage(value, list(suggestions))


def resolve_target(value: str) -> str:
    """``resolve`` for a target language: ``mul`` (multiple languages) is refused too."""
    code = resolve(value)
    if code == MULTIPLE:
        raise NotALanguage(value, "'mul' (multiple languages) is only a source language, for a "
                                  "multilingual intermediate set; a target is one language")
    return code


@functools.lru_cache(maxsize=16384)
def _resolve(text: str) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(code, None, ()) or (None, why it is not a language, ()) or (None, None, suggestions)."""
    reason = _special(text.split("-")[0].split("_")[0])
    if reason is not None:
        return None, reason, ()
    code = _code_from_tag(text) or _code_from_name(text)
    if code is None:
        return None, None, tuple(suggest(text)) if len(text) <= MAX_SUGGEST else ()
    reason = _special(code)  # a name such as "No linguistic content"
    if reason is not None:
        return None, reason, ()
    return code, None, ()


@functools.lru_cache(maxsize=4096)
def script_note(value: str) -> str | None:
    """A note when ``resolve`` folds a non-default script into the language, else None.

    ``sw-Arab`` (Swahili in Arabic script) becomes ``swa`` like ``sw-Latn``: language features
    (URIEL, CC-100) are per language. The default script of a language (``zh-Hans``,
    ``sr-Cyrl``) folds silently; any other is reported, so an import can warn instead of
    dropping it silently.
    """
    try:
        lang = Language.get(value.strip(), normalize=False)
        if not lang.script or not lang.language:
            return None
        default = Language.get(lang.language).maximize().script
        code = resolve(value)
    except (LanguageTagError, ValueError, UnknownLanguage):
        return None
    if default and default.lower() == lang.script.lower():
        return None
    return (f"{value.strip()!r}: script {lang.script} is not kept; runs and features are per "
            f"language ({code})")


@functools.lru_cache(maxsize=16384)
def language_name(code: str) -> str:
    """The English display name of a code (``swa`` -> ``Swahili``); the code itself if none."""
    if code in _NAME_OVERRIDES:
        return _NAME_OVERRIDES[code]
    try:
        lang = Language.get(code)  # normalised: langcodes names "sw", not "swa"
    except (LanguageTagError, ValueError):
        return code
    name = str(lang.display_name("en"))
    return code if name.startswith("Unknown language") else name


@functools.lru_cache(maxsize=1)
def _suggestion_pool() -> tuple[dict[str, str], dict[str, str]]:
    """(normalised English name -> tag, lowercase 3-letter code -> tag) for suggestions."""
    trie = _name_trie()
    names: dict[str, str] = {}
    for key, raw in trie.items():  # type: ignore[attr-defined]
        names.setdefault(key, raw.decode("utf-8"))
    codes = {tag: tag for tag in set(names.values()) if len(tag) == 3 and tag.isalpha()}
    codes.update({c: c for c in MACRO_OF})
    codes.update({c: c for c in MACRO_OF.values()})
    return names, codes


def _grams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def _pairs(text: str) -> set[str]:
    return {text[i] + text[j] for i in range(len(text)) for j in range(i + 1, len(text))}


@functools.lru_cache(maxsize=1)
def _suggestion_index() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(bigram -> names holding it, ordered letter pair -> 3-letter codes holding it)."""
    names, codes = _suggestion_pool()
    by_gram: dict[str, list[str]] = defaultdict(list)
    for name in names:
        for gram in _grams(name):
            by_gram[gram].append(name)
    by_pair: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        for pair in _pairs(code):
            by_pair[pair].append(code)
    return ({k: tuple(v) for k, v in by_gram.items()}, {k: tuple(v) for k, v in by_pair.items()})


def _near_names(key: str) -> list[str]:
    """Names that can reach difflib's 0.75 ratio against ``key``: a length within 0.6–1/0.6 of it
    (below, 2·M/T < 0.75 whatever matches) and a third of its bigrams in common. A few hundred
    names instead of 12k, so that a new unknown name costs about a millisecond, not 30–60."""
    by_gram, _ = _suggestion_index()
    grams = _grams(key)
    shared: Counter[str] = Counter()
    for gram in grams:
        shared.update(by_gram.get(gram, ()))
    need = max(1, len(grams) // 3)
    low, high = 0.6 * len(key), len(key) / 0.6
    return [n for n, k in shared.items() if k >= need and low <= len(n) <= high]


def _near_codes(key: str) -> list[str]:
    """3-letter codes sharing an ordered letter pair with ``key``: every code that can reach
    difflib's 0.6 ratio against a key of 2–3 letters shares one (2·M/T >= 0.6 needs M >= 2)."""
    _, by_pair = _suggestion_index()
    return sorted({c for pair in _pairs(key) for c in by_pair.get(pair, ())})


def suggest(text: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` close matches for an unknown input, as ``'swa (Swahili)'``."""
    names, codes = _suggestion_pool()
    key = _normalise_name(text)
    hits = difflib.get_close_matches(key, _near_names(key), n=limit * 3, cutoff=0.75)
    tags = [names[h] for h in hits]
    if len(key) <= 3:
        tags = [codes[c] for c in difflib.get_close_matches(key, _near_codes(key), n=limit * 3, cutoff=0.6)] + tags
    out: list[str] = []
    for tag in tags:
        code = _code_from_tag(tag)
        if code is None:
            continue
        label = f"{code} ({language_name(code)})"
        if label not in out:
            out.append(label)
        if len(out) == limit:
            break
    return out
