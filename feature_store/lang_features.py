"""URIEL language features (lang2vec), precomputed once into one ``.npz`` and loaded in ms.

lang2vec's pip package takes ~7 s to import and has no distance function, so the first use
reads its data files directly (no ``import lang2vec``, no network) and writes
``cache_dir()/lang_features-v1.npz``; every later process just loads that file.

Per language (all 7,970 codes in lang2vec's data, a superset of what its
``available_languages()`` reports) the cache holds:

- unit-normalised KNN-imputed typology vectors ``syntax_knn`` (103), ``phonology_knn`` (28),
  ``inventory_knn`` (158) and their concatenation (featural, normalised after concatenating);
- unit-normalised ``geo`` (299 ``GC_lat_lon`` proximities to points on a global grid);
- ``fam`` (3,718 Glottolog nodes, bit-packed) and the top-level family: the node the
  language belongs to with the most members overall (the root of its tree); languages with no
  node (isolates such as ``eus``, or no data) are their own family;
- the fraction of features *missing* before imputation per group, from
  ``{syntax,phonology,inventory}_average`` (the mean over WALS/SSWL/Ethnologue/PHOIBLE; -1,
  printed ``--`` by lang2vec, where no source has the feature): 1.0 means fully imputed;
- CC-100 pretraining size, ``log1p(GiB)`` from the ``size_gib`` column of
  ``data/cc100_pretraining_data.csv``, summed over the rows of one code (zh-Hans + zh-Hant,
  hi + hi-Latn, both Burmese rows).

Macrolanguages: lang2vec 1.1.2 has vectors for every macro code in ``languages.MACRO_OF``
(swa, ara, zho, fas, msa, est, ...), and they are better covered than the individual codes
(``ekk``, ``lvs`` and ``nob`` have no ``fam`` nodes at all). Should a macro code have no
data-backed group (imputed fraction 1.0, or no family nodes) while its dominant individual
language has one, the macro code takes the individual's (``_borrow_for_macros``).
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import io
import math
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from feature_store.errors import InvalidRequest, LanguageDataMissing, UnknownLanguage
from feature_store.languages import MACRO_OF, resolve
from feature_store.paths import atomic_write_bytes, cache_dir

DISTANCES: tuple[str, ...] = ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic")
GROUPS: tuple[str, ...] = ("syntax", "phonology", "inventory")
CACHE_NAME = "lang_features-v1.npz"
_VERSION = 1
_CC100_CSV = Path(__file__).parent / "data" / "cc100_pretraining_data.csv"
_CC100_EXTRA = {"ku": ("kmr",)}  # the paper's "ku" row is Kurmanji: also the code the UD data uses


def _lang2vec_data() -> Path:
    """lang2vec's data folder, found through its installed metadata, without importing it.

    Importing would cost ~7 s, and ``find_spec("lang2vec")`` can hit the ``bin/lang2vec.py``
    script the package installs when that folder is on ``sys.path`` (it is under pytest).
    """
    try:
        folder = Path(str(importlib.metadata.distribution("lang2vec").locate_file("lang2vec/data")))
    except importlib.metadata.PackageNotFoundError:
        folder = None
    if folder is None or not (folder / "family_features.npz").is_file():
        raise LanguageDataMissing(
            "building language features needs the lang2vec package's data (pip install lang2vec==1.1.2)")
    return folder


def _read_set(data: Path, filename: str, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values (len(order), n_feats), feature names) of one lang2vec file, rows in ``order``."""
    with np.load(data / filename, allow_pickle=False) as z:
        pos = {code: i for i, code in enumerate(z["langs"].tolist())}
        rows = np.array([pos[c] for c in order.tolist()])
        return z["data"][rows, :, 0], z["feats"]


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def _cc100(codes: Iterable[str]) -> dict[str, float]:
    """code -> total CC-100 GiB over the paper's rows for that code."""
    wanted = set(codes)
    gib: dict[str, float] = {}
    with open(_CC100_CSV, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                code = resolve(row["key"])
            except UnknownLanguage:  # keys like "my(row_56)": fall back to the paper's ISO code
                code = resolve(row["iso_code_in_paper"])
            for c in (code, *_CC100_EXTRA.get(row["key"], ())):
                if c in wanted:
                    gib[c] = gib.get(c, 0.0) + float(row["size_gib"])
    return gib


def _borrow_for_macros(pos: dict[str, int], groups: dict[str, np.ndarray], missing: np.ndarray,
                       fam: np.ndarray) -> None:
    """In place: a macro code with no data-backed group (or no family) takes its individual's.

    With lang2vec 1.1.2 this changes nothing (every macro in ``MACRO_OF`` is at least as well
    covered as its individual), but it keeps e.g. ``est`` usable should a data update empty it.
    """
    for individual, macro in MACRO_OF.items():
        m, i = pos.get(macro), pos.get(individual)
        if m is None or i is None:
            continue
        for j, group in enumerate(GROUPS):
            if missing[m, j] == 1.0 and missing[i, j] < 1.0:
                groups[group][m], missing[m, j] = groups[group][i], missing[i, j]
        if not fam[m].any() and fam[i].any():
            fam[m] = fam[i]


def build_arrays(languages: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read lang2vec's data and compute every cached array (for all languages or a subset)."""
    data = _lang2vec_data()
    with np.load(data / "family_features.npz", allow_pickle=False) as z:
        all_codes = np.sort(z["langs"])
    groups: dict[str, np.ndarray] = {}
    pred, feats = _read_set(data, "feature_predictions.npz", all_codes)
    avg, _ = _read_set(data, "feature_averages.npz", all_codes)
    prefixes = {"syntax": "S_", "phonology": "P_", "inventory": "INV_"}
    missing = np.empty((len(all_codes), 3), dtype=np.float32)
    for j, (group, prefix) in enumerate(prefixes.items()):
        cols = np.char.startswith(feats, prefix)
        groups[group] = pred[:, cols].astype(np.float32)
        missing[:, j] = (avg[:, cols] == -1).mean(axis=1)
    fam, fam_names = _read_set(data, "family_features.npz", all_codes)
    fam = fam == 1
    geo, _ = _read_set(data, "geocoord_features.npz", all_codes)

    pos = {c: i for i, c in enumerate(all_codes.tolist())}
    _borrow_for_macros(pos, groups, missing, fam)

    keep = np.arange(len(all_codes)) if languages is None else np.array(
        sorted({pos[c] for c in languages if c in pos}), dtype=np.int64)
    codes = all_codes[keep]
    sizes = fam.sum(axis=0)  # members per Glottolog node, over all languages even for a subset
    fam = fam[keep]
    top = np.where(fam, sizes[None, :], -1).argmax(axis=1)
    family = np.where(fam.any(axis=1), np.char.replace(fam_names[top], "F_", "", count=1), codes)
    cc = _cc100(codes.tolist())
    featural = np.concatenate([groups[g][keep] for g in GROUPS], axis=1)
    blocks = [*(groups[g][keep] for g in GROUPS), featural, geo[keep]]
    words = np.packbits(fam, axis=1)
    words = np.pad(words, ((0, 0), (0, -words.shape[1] % 8)))
    return {
        "version": np.array(_VERSION),
        "codes": codes.astype("U3"),
        # the five cosine blocks side by side (one gather per request), each unit-normalised
        "vectors": np.concatenate([_unit(b.astype(np.float32)) for b in blocks], axis=1),
        "block_ends": np.cumsum([b.shape[1] for b in blocks]),
        "fam_words": np.ascontiguousarray(words).view(np.uint64),  # Glottolog nodes, 64 per word
        "fam_count": fam.sum(axis=1).astype(np.int32),
        "family": family.astype(str),
        "missing": missing[keep],
        "cc100_codes": np.array(sorted(cc), dtype="U3"),
        "cc100_log_gib": np.array([math.log1p(cc[c]) for c in sorted(cc)], dtype=np.float64),
    }


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits per uint64, summed over the last axis."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    return _POP8[words.view(np.uint8)].sum(axis=-1, dtype=np.int64)


_POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


class LanguageFeatures:
    """Precomputed URIEL vectors, distances, families, imputation and CC-100 sizes per language.

    Codes passed in must already be resolved (``languages.resolve``); unknown codes give NaN
    distances and neutral values, never a KeyError.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._a = arrays
        self.codes: tuple[str, ...] = tuple(arrays["codes"].tolist())
        self._pos = {c: i for i, c in enumerate(self.codes)}
        self._cc = dict(zip(arrays["cc100_codes"].tolist(), arrays["cc100_log_gib"].tolist(), strict=True))
        ends = arrays["block_ends"].tolist()
        self._blocks = [slice(a, b) for a, b in zip([0, *ends[:-1]], ends, strict=True)]

    @classmethod
    def build(cls, cache: Path | None = None, languages: Sequence[str] | None = None) -> LanguageFeatures:
        """Compute the features (all languages, or ``languages`` for tests) and write the cache."""
        if languages is not None and cache is None:
            raise InvalidRequest("a cache for a subset of languages needs an explicit path")
        path = _cache_path(cache)
        arrays = build_arrays(languages)
        buf = io.BytesIO()
        np.savez(buf, allow_pickle=False, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())
        return cls(arrays)

    @classmethod
    def load(cls, cache: Path | None = None) -> LanguageFeatures:
        """Load the cache file; build it when it is missing, stale or unreadable."""
        path = _cache_path(cache)
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed on errors too
                arrays = {k: z[k] for k in z.files}
            if int(arrays["version"]) != _VERSION:
                raise ValueError("stale cache version")
            return cls(arrays)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            return cls.build(path)

    def known(self, code: str) -> bool:
        """Whether the (resolved) code has URIEL vectors."""
        return code in self._pos

    def index(self, code: str) -> int:
        """Row of ``code`` in the arrays, -1 when unknown."""
        return self._pos.get(code, -1)

    def distances(self, a: str, b: str) -> np.ndarray:
        """Shape (6,), in ``DISTANCES`` order; NaN where a language is unknown."""
        return self.distance_matrix([a], [b])[0, 0]

    def distance_matrix(self, targets: Sequence[str], sources: Sequence[str]) -> np.ndarray:
        """Shape (len(targets), len(sources), 6), in ``DISTANCES`` order.

        Cosine distances (1 - cos, in [0, 1]: all vectors are non-negative) for the typology
        and geographic vectors; genetic = 1 - |shared Glottolog nodes| / max(|nodes(a)|, |nodes(b)|),
        1.0 when neither has a node. Same code -> 0; unknown code -> NaN.
        """
        ti = np.array([self._pos.get(c, -1) for c in targets], dtype=np.int64)
        si = np.array([self._pos.get(c, -1) for c in sources], dtype=np.int64)
        out = np.empty((len(ti), len(si), 6), dtype=np.float64)
        tk, sk = np.maximum(ti, 0), np.maximum(si, 0)
        vt, vs = self._a["vectors"][tk], self._a["vectors"][sk]
        for k, block in zip((0, 1, 2, 3, 5), self._blocks, strict=True):
            out[:, :, k] = 1.0 - vt[:, block] @ vs[:, block].T
        words, counts = self._a["fam_words"], self._a["fam_count"]
        shared = _popcount(words[tk][:, None, :] & words[sk][None, :, :])
        denom = np.maximum(counts[tk][:, None], counts[sk][None, :])
        out[:, :, 4] = 1.0 - shared / np.maximum(denom, 1)
        np.clip(out, 0.0, 1.0, out=out)
        out[ti[:, None] == si[None, :]] = 0.0
        out[(ti < 0)[:, None] | (si < 0)[None, :]] = np.nan
        return out

    def cc100_log_gib(self, code: str) -> tuple[float, bool]:
        """(log1p(CC-100 GiB), present); (0.0, False) for languages XLM-R was not trained on."""
        value = self._cc.get(code)
        return (0.0, False) if value is None else (float(value), True)

    def imputed_fraction(self, code: str) -> dict[str, float]:
        """Fraction of features with no source data per group; 1.0 everywhere when unknown."""
        i = self._pos.get(code, -1)
        if i < 0:
            return dict.fromkeys(GROUPS, 1.0)
        return {g: float(v) for g, v in zip(GROUPS, self._a["missing"][i], strict=True)}

    def family(self, code: str) -> str:
        """Top-level Glottolog family (e.g. ``Indo-European``); the code itself if none."""
        i = self._pos.get(code, -1)
        return code if i < 0 else str(self._a["family"][i])

    def nearest(self, code: str, candidates: Sequence[str], distance: str) -> list[tuple[str, float]]:
        """``candidates`` sorted by ``distance`` to ``code``, closest first, unknown (NaN) last."""
        if distance not in DISTANCES:
            raise InvalidRequest(f"unknown distance {distance!r}; choose one of {', '.join(DISTANCES)}")
        d = self.distance_matrix([code], candidates)[0, :, DISTANCES.index(distance)]
        order = sorted(range(len(candidates)), key=lambda j: (math.isnan(d[j]), d[j]))
        return [(candidates[j], float(d[j])) for j in order]


def _cache_path(cache: Path | None) -> Path:
    """``cache`` as the cache file; a folder means the standard file name inside it."""
    if cache is None:
        return cache_dir() / CACHE_NAME
    cache = Path(cache)
    return cache / CACHE_NAME if cache.is_dir() else cache


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path) -> LanguageFeatures:
    return LanguageFeatures.load(path)


def get_language_features() -> LanguageFeatures:
    """The process-wide instance for the current ``cache_dir()`` (built on first use)."""
    return _load_cached(_cache_path(None))
