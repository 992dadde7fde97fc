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

from langcodes import Language
from langcodes.tag_parser import LanguageTagError

from feature_store.errors import UnknownLanguage

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
    try:
        lang = Language.get(text, normalize=False)
    except (LanguageTagError, ValueError):
        return None
    if not lang.language or lang.language == "und" or len(lang.language) > 3:
        return None
    if "qaa" <= lang.language.lower() <= "qtz":  # ISO's private-use range: nobody's data
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


@functools.lru_cache(maxsize=16384)
def resolve(value: str) -> str:
    """Normalise a code, tag or English name to stepstone's ISO 639-3 code.

    Accepts ``sw``, ``SW``, ``swa``, ``swh``, ``sw-KE``, ``Swahili``, ``swahili`` (all
    ``swa``). Raises ``UnknownLanguage`` with up to three close matches otherwise.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise UnknownLanguage(value if isinstance(value, str) else repr(value), [])
    # Control characters, lone surrogates and very long strings are never language names, and
    # the name index (a marisa trie) cannot take NUL or surrogates.
    if len(text) > 64 or not text.isprintable():
        raise UnknownLanguage(value, [])
    code = _code_from_tag(text) or _code_from_name(text)
    if code is None:
        raise UnknownLanguage(value, suggest(text))
    return code


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


def suggest(text: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` close matches for an unknown input, as ``'swa (Swahili)'``."""
    names, codes = _suggestion_pool()
    key = _normalise_name(text)
    hits = difflib.get_close_matches(key, list(names), n=limit * 3, cutoff=0.75)
    tags = [names[h] for h in hits]
    if len(key) <= 3:
        tags = [codes[c] for c in difflib.get_close_matches(key, list(codes), n=limit * 3, cutoff=0.6)] + tags
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
